import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { AgentError, ErrorCodes } from '../errors.js';
import { type Clock, systemClock, waitUntil } from '../service.js';
import type { ImageStats, Region } from './image-stats.js';
import type { FromWorker, LoadRequest, ProviderAttempt, RunRequest, WireTensor } from './protocol.js';

/**
 * The worker entry beside this module: compiled `.js` in dist/; `.ts` when running from source (tests, bench),
 * where the worker needs the tsx loader itself (a test runner's loader does not always reach workers).
 */
function startWorker(): Worker {
  const js = new URL('./session-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js);
  const ts = new URL('./session-worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(ts)}); })`;
  return new Worker(boot, { eval: true });
}

/** True for a run the session itself failed: the trigger for falling back to the next provider. */
export function isProviderFault(err: unknown): boolean {
  return (err as { providerFault?: unknown } | null)?.providerFault === true;
}

export interface RunResult {
  outputs: Record<string, WireTensor>;
  inferenceMs: number;
  queueMs: number;
  /** The frame's image statistics, computed in the worker (when the pool was loaded with `stats`). */
  imageStats?: ImageStats | undefined;
}

interface Job {
  id: number;
  feeds: Record<string, WireTensor>;
  region: Region | undefined;
  enqueuedAt: number;
  signal: AbortSignal | undefined;
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
  startedAt: number;
}

export interface PoolLoadResult {
  provider: string;
  attempts: ProviderAttempt[];
  inputNames: string[];
  outputNames: string[];
}

/**
 * A fixed set of worker threads, each holding one session of the same model. Jobs queue in the main thread
 * and go to the first idle worker; a job whose caller gave up (its signal aborted) before a worker took it
 * is dropped from the queue rather than run for nobody. A worker that dies is replaced and its job failed.
 */
export class SessionPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private loadArgs: Omit<LoadRequest, 'type'> | undefined;
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly log: Logger,
    private readonly onWorkerDied: (err: Error) => void = () => {},
    private readonly clock: Clock = systemClock,
  ) {}

  /** Starts the workers and loads the model in each; resolves with the provider the first worker chose. */
  async load(args: Omit<LoadRequest, 'type'>): Promise<PoolLoadResult> {
    this.loadArgs = args;
    const results = await Promise.all(Array.from({ length: this.size }, () => this.spawn()));
    return results[0] as PoolLoadResult;
  }

  /** `region`: where the frame lies in the input, for its image statistics (the whole input when omitted). */
  run(feeds: Record<string, WireTensor>, signal?: AbortSignal, region?: Region): Promise<RunResult> {
    if (this.closed) return Promise.reject(new AgentError(ErrorCodes.MODEL_UNAVAILABLE, 'model is unloaded'));
    return new Promise((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        feeds,
        region,
        enqueuedAt: performance.now(),
        signal,
        resolve,
        reject,
      };
      this.queue.push(job);
      this.dispatch();
    });
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Jobs queued or running: a pool about to be retired is drained to zero first. */
  get busy(): number {
    return this.queue.length + this.slots.filter((s) => s.job).length;
  }

  /** Lets running jobs finish (bounded by `graceMs`), then ends the threads. */
  async close(graceMs = 5_000): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) {
      job.reject(new AgentError(ErrorCodes.MODEL_UNAVAILABLE, 'model is being unloaded'));
    }
    await waitUntil(() => !this.slots.some((s) => s.job), graceMs, 10, this.clock);
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private spawn(): Promise<PoolLoadResult> {
    const args = this.loadArgs;
    if (!args) throw new Error('load() first');
    const worker = startWorker();
    const slot: Slot = { worker, job: undefined, startedAt: 0 };
    return new Promise((resolve, reject) => {
      let loaded = false;
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'loaded') {
          loaded = true;
          this.slots.push(slot);
          resolve(msg);
          this.dispatch();
        } else if (msg.type === 'load-failed') {
          void worker.terminate();
          const detail = msg.attempts.map((a) => `${a.provider}: ${a.error ?? 'ok'}`).join('; ');
          reject(
            Object.assign(
              new AgentError(ErrorCodes.MODEL_LOAD, `no provider could load the model (${detail})`),
              {
                attempts: msg.attempts,
              },
            ),
          );
        } else {
          this.settle(slot, msg);
        }
      });
      worker.on('error', (err) => {
        this.log.error({ err }, 'inference worker crashed');
        if (!loaded)
          reject(
            new AgentError(ErrorCodes.WORKER_DIED, `inference worker crashed: ${err.message}`, {
              cause: err,
            }),
          );
      });
      worker.on('exit', (code) => {
        const index = this.slots.indexOf(slot);
        if (index >= 0) this.slots.splice(index, 1);
        if (slot.job) {
          slot.job.reject(
            new AgentError(ErrorCodes.WORKER_DIED, `inference worker exited (code ${code}) during a run`),
          );
          slot.job = undefined;
        }
        if (loaded && !this.closed) {
          const err = new AgentError(
            ErrorCodes.WORKER_DIED,
            `inference worker exited with code ${code}; replacing it`,
          );
          this.onWorkerDied(err);
          this.spawn().catch((e: unknown) => this.log.error({ err: e }, 'cannot replace inference worker'));
        }
      });
      const request: LoadRequest = { type: 'load', ...args };
      worker.postMessage(request);
    });
  }

  private settle(slot: Slot, msg: Extract<FromWorker, { type: 'result' | 'run-failed' }>): void {
    const job = slot.job;
    slot.job = undefined;
    if (!job || job.id !== msg.id) {
      this.log.warn({ id: msg.id }, 'inference result for an unknown job ignored');
    } else if (msg.type === 'result') {
      job.resolve({
        outputs: msg.outputs,
        inferenceMs: msg.inferenceMs,
        queueMs: slot.startedAt - job.enqueuedAt,
        imageStats: msg.imageStats,
      });
    } else {
      // the session itself failed (not the caller, not the queue): the provider may be at fault
      job.reject(
        Object.assign(new AgentError(ErrorCodes.INFERENCE_FAILED, `inference failed: ${msg.error}`), {
          providerFault: true,
        }),
      );
    }
    this.dispatch();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job) continue;
      let job = this.queue.shift();
      while (job?.signal?.aborted) {
        job.reject(new AgentError(ErrorCodes.INFERENCE_FAILED, 'inference cancelled: its caller gave up'));
        job = this.queue.shift();
      }
      if (!job) return;
      slot.job = job;
      slot.startedAt = performance.now();
      const transfer = Object.values(job.feeds).map((t) => t.data.buffer as ArrayBuffer);
      const request: RunRequest = { type: 'run', id: job.id, feeds: job.feeds, region: job.region };
      slot.worker.postMessage(request, transfer);
    }
  }
}
