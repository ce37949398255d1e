import type { Logger } from 'pino';
import { agentError } from './errors.js';
import { type Service, withTimeout } from './service.js';

/** Services that start together once the stages before them are up, and stop together. */
export interface Stage {
  name: string;
  services: readonly Service[];
}

/** How long one service may take to stop unless it says otherwise (`Service.stopTimeoutMs`). */
export const STOP_TIMEOUT_MS = 10_000;

/**
 * Starts services in dependency stages and stops them in reverse (after node-red's `stopNode`): the services
 * of a stage start in parallel and stop in parallel, each stop raced against its own timeout, so one stuck
 * part cannot hang shutdown; a failure is logged and does not keep the others from stopping. The first stage
 * (the store) is thus stopped last, after every writer has stopped or timed out.
 *
 * A failed start stops what had already started, then rethrows. An abort during start (a signal while models
 * load) ends the start early: what had started, and what was starting, is stopped by `stop()`.
 */
/** A service that was started, with its start (still running when a stop came during it). */
interface Running {
  service: Service;
  starting: Promise<unknown>;
}

export class Lifecycle {
  private started: Running[][] = [];

  constructor(
    private readonly stages: readonly Stage[],
    private readonly log: Logger,
  ) {}

  /** Resolves once every stage is up, or early (without error) when `signal` aborts. */
  async start(signal: AbortSignal): Promise<void> {
    for (const stage of this.stages) {
      if (signal.aborted) return;
      const running = stage.services.map((service) => ({ service, starting: service.start(signal) }));
      const results = await untilAborted(Promise.allSettled(running.map((r) => r.starting)), signal);
      if (results === 'aborted') {
        // a start still running may hold resources (workers, sockets): its stop waits for it, then stops it
        this.started.push(running);
        return;
      }
      this.started.push(running.filter((_, i) => results[i]?.status === 'fulfilled'));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        this.log.error({ err: failed.reason, stage: stage.name }, 'start failed: stopping what had started');
        await this.stop();
        throw failed.reason;
      }
    }
  }

  /** Stops the started stages in reverse, each service bounded by its timeout. Safe to call twice. */
  async stop(): Promise<void> {
    const stages = this.started.reverse();
    this.started = [];
    for (const services of stages) {
      await Promise.all(services.map((s) => this.stopOne(s)));
    }
  }

  private async stopOne({ service, starting }: Running): Promise<void> {
    const limit = service.stopTimeoutMs ?? STOP_TIMEOUT_MS;
    const stopped = starting.then(
      () => service.stop(),
      () => service.stop(),
    );
    try {
      await withTimeout(stopped, limit, () =>
        agentError('SHUTDOWN_TIMEOUT', { part: service.name, ms: limit }),
      );
    } catch (err) {
      this.log.error({ err, service: service.name }, 'service stop failed');
    }
  }
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | 'aborted'> {
  if (signal.aborted) return Promise.resolve('aborted');
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
