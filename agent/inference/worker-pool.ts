import type { MessagePort, Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Frame } from '../capture/index.js';
import { AgentError, type ErrorCode, ErrorCodes } from '../errors.js';
import { type Clock, systemClock, waitUntil } from '../service.js';
import { Decoder } from './decoder.js';
import type { ImageStats, Region } from './image-stats.js';
import type {
  FrameRequest,
  FromWorker,
  Judged,
  LoadRequest,
  ProviderAttempt,
  RunRequest,
  WireFrame,
  WireTensor,
} from './protocol.js';
import { retireWorker, startWorker } from './spawn-worker.js';

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

/** A frame judged in a worker; `queueMs`: all the time it waited (the pool's queue, the worker's line). */
export type FrameResult = Judged & { queueMs: number };

type Payload =
  | { type: 'frame'; frame: WireFrame }
  | { type: 'run'; feeds: Record<string, WireTensor>; region: Region | undefined };

interface Job {
  id: number;
  payload: Payload;
  enqueuedAt: number;
  signal: AbortSignal | undefined;
  onAbort?: () => void;
  resolve: (r: RunResult | FrameResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  /** this worker's key with the decode worker (a replacement gets a new one) */
  key: number;
  worker: Worker;
  /** jobs handed to this worker: running, decoding or waiting there */
  jobs: Job[];
  warmed?: (message: Extract<FromWorker, { type: 'warmed' }>) => void;
}

export interface PoolLoadResult {
  provider: string;
  attempts: ProviderAttempt[];
  inputNames: string[];
  outputNames: string[];
}

/** How long a retiring session worker may take to finish its jobs and end itself before it is terminated. */
const RETIRE_MS = 2_000;

/**
 * A fixed set of worker threads, each holding one session of the same model, and (with a manifest) one
 * decode worker that preprocesses frames for all of them. Jobs queue here in the main thread, in order, and
 * go to the least busy session worker, which holds at most `2 x maxBatch` of them: one session.run's worth
 * running and one decoding ahead (so the next frame decodes while the current one infers, and no more
 * frames than that are decoded ahead). A job whose caller gave up (its signal aborted) leaves the queue,
 * or its worker unless its session.run has begun, rather than run for nobody. A worker that dies fails
 * the jobs it held and is replaced.
 */
export class SessionPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private loadArgs: Omit<LoadRequest, 'type'> | undefined;
  private closed = false;
  private readonly perWorker: number;
  private decoder: Decoder | undefined;
  private nextSlot = 1;

  constructor(
    private readonly size: number,
    private readonly log: Logger,
    private readonly onWorkerDied: (err: Error) => void = () => {},
    private readonly clock: Clock = systemClock,
    maxBatch = 1,
  ) {
    this.perWorker = 2 * Math.max(1, maxBatch);
  }

  /** Starts the workers and loads the model in each; resolves with the provider the first worker chose. */
  async load(args: Omit<LoadRequest, 'type'>): Promise<PoolLoadResult> {
    this.loadArgs = args;
    if (args.manifest) {
      this.decoder = new Decoder(
        {
          input: args.manifest.input,
          stats: args.stats !== undefined,
          exitOnFrame: args.faults?.exitDecoderOnFrame,
        },
        this.log,
        this.clock,
        () => this.slots.map((s) => s.key),
        (key, port) => {
          this.slots.find((s) => s.key === key)?.worker.postMessage({ type: 'decoder', port }, [port]);
        },
      );
      this.decoder.start();
    }
    const results = await Promise.all(Array.from({ length: this.size }, () => this.spawn()));
    return results[0] as PoolLoadResult;
  }

  /**
   * Runs a blank input on every worker (batched too, when the manifest batches); resolves with the largest
   * batch every worker took, rejects with the first failure (a providerFault when the session failed).
   */
  async warmUp(): Promise<number> {
    const answers = await Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<Extract<FromWorker, { type: 'warmed' }>>((resolve) => {
            slot.warmed = resolve;
            slot.worker.postMessage({ type: 'warm' });
          }),
      ),
    );
    const failed = answers.find((a) => a.error);
    if (failed?.error) {
      const code = failed.providerFault ? ErrorCodes.INFERENCE_FAILED : ErrorCodes.MODEL_LOAD;
      throw Object.assign(new AgentError(code, failed.error), {
        providerFault: failed.providerFault === true,
      });
    }
    return Math.min(...answers.map((a) => a.batch));
  }

  /** A frame preprocessed, run and decoded in a worker (the pool must be loaded with a manifest). */
  infer(frame: Frame, signal?: AbortSignal): Promise<FrameResult> {
    if (!this.decoder) {
      return Promise.reject(
        new AgentError(ErrorCodes.MODEL_UNAVAILABLE, 'frames need a pool loaded with a manifest'),
      );
    }
    // the caller keeps its frame (storage, the shadow lane): the worker gets a copy of the bytes, transferred
    const data = new Uint8Array(frame.data.byteLength);
    data.set(frame.data);
    const wire: WireFrame =
      frame.kind === 'raw'
        ? { kind: 'raw', data, width: frame.width, height: frame.height, channels: frame.channels }
        : { kind: 'encoded', data };
    return this.enqueue({ type: 'frame', frame: wire }, signal) as Promise<FrameResult>;
  }

  /** `region`: where the frame lies in the input, for its image statistics (the whole input when omitted). */
  run(feeds: Record<string, WireTensor>, signal?: AbortSignal, region?: Region): Promise<RunResult> {
    return this.enqueue({ type: 'run', feeds, region }, signal) as Promise<RunResult>;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Jobs queued or held by a worker: a pool about to be retired is drained to zero first. */
  get busy(): number {
    return this.queue.length + this.slots.reduce((n, s) => n + s.jobs.length, 0);
  }

  /**
   * Lets the jobs workers hold finish (bounded by `graceMs`), then asks each worker to end itself: session
   * workers once their line is empty (terminated after RETIRE_MS), the decode worker last, once no sharp call
   * is in flight (never terminated: see decoder.ts).
   */
  async close(graceMs = 5_000): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) {
      this.settle(job, new AgentError(ErrorCodes.MODEL_UNAVAILABLE, 'model is being unloaded'));
    }
    await waitUntil(() => !this.slots.some((s) => s.jobs.length > 0), graceMs, 10, this.clock);
    await Promise.all(this.slots.splice(0).map((s) => retireWorker(s.worker, RETIRE_MS, this.clock)));
    // last: session workers waited for the frames it was decoding for them
    await this.decoder?.close();
  }

  private enqueue(payload: Payload, signal: AbortSignal | undefined): Promise<RunResult | FrameResult> {
    if (this.closed) return Promise.reject(new AgentError(ErrorCodes.MODEL_UNAVAILABLE, 'model is unloaded'));
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, payload, enqueuedAt: performance.now(), signal, resolve, reject };
      // an already aborted signal is seen at dispatch (the one place `aborted` is read before a worker takes
      // the job); the listener catches a caller giving up later
      if (signal) {
        job.onAbort = () => this.abandon(job);
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** The caller gave up: a job still queued leaves the queue; one a worker holds is cancelled there. */
  private abandon(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.settle(job, cancelled());
      return;
    }
    this.slots.find((s) => s.jobs.includes(job))?.worker.postMessage({ type: 'cancel', id: job.id });
  }

  private spawn(): Promise<PoolLoadResult> {
    const args = this.loadArgs;
    if (!args) throw new Error('load() first');
    const worker = startWorker('session-worker');
    const slot: Slot = { key: this.nextSlot++, worker, jobs: [] };
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
              { attempts: msg.attempts },
            ),
          );
        } else if (msg.type === 'warmed') {
          slot.warmed?.(msg);
          slot.warmed = undefined;
        } else {
          this.answer(slot, msg);
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
        for (const job of slot.jobs.splice(0)) {
          this.settle(
            job,
            new AgentError(ErrorCodes.WORKER_DIED, `inference worker exited (code ${code}) during a run`),
          );
        }
        slot.warmed?.({ type: 'warmed', batch: 1, error: `inference worker exited (code ${code})` });
        if (loaded && !this.closed) {
          const err = new AgentError(
            ErrorCodes.WORKER_DIED,
            `inference worker exited with code ${code}; replacing it`,
          );
          this.onWorkerDied(err);
          this.spawn().catch((e: unknown) => this.log.error({ err: e }, 'cannot replace inference worker'));
        }
        this.dispatch();
      });
      const decoder: MessagePort | undefined = this.decoder?.channel(slot.key);
      const request: LoadRequest = { type: 'load', ...args, decoder };
      worker.postMessage(request, decoder ? [decoder] : []);
    });
  }

  private answer(slot: Slot, msg: Exclude<FromWorker, { type: 'loaded' | 'load-failed' | 'warmed' }>): void {
    const job = slot.jobs.find((j) => j.id === msg.id);
    if (!job) {
      this.log.warn({ id: msg.id }, 'inference result for an unknown job ignored');
      return;
    }
    slot.jobs.splice(slot.jobs.indexOf(job), 1);
    const waited = performance.now() - job.enqueuedAt;
    if (msg.type === 'result') {
      const { outputs, inferenceMs, imageStats } = msg;
      this.settle(job, { outputs, inferenceMs, imageStats, queueMs: Math.max(0, waited - inferenceMs) });
    } else if (msg.type === 'judged') {
      const { type: _type, id: _id, ...judged } = msg;
      const queueMs = Math.max(0, waited - judged.preprocessMs - judged.inferenceMs);
      this.settle(job, { ...judged, queueMs });
    } else if (msg.type === 'run-failed') {
      // the session itself failed (not the caller, not the queue): the provider may be at fault
      this.settle(
        job,
        Object.assign(new AgentError(ErrorCodes.INFERENCE_FAILED, `inference failed: ${msg.error}`), {
          providerFault: true,
        }),
      );
    } else if (msg.type === 'job-failed') {
      const known = (Object.values(ErrorCodes) as string[]).includes(msg.code);
      this.settle(
        job,
        new AgentError(known ? (msg.code as ErrorCode) : ErrorCodes.INFERENCE_FAILED, msg.error),
      );
    } else {
      this.settle(job, cancelled());
    }
    this.dispatch();
  }

  private settle(job: Job, outcome: RunResult | FrameResult | Error): void {
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
    if (outcome instanceof Error) job.reject(outcome);
    else job.resolve(outcome);
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot: Slot | undefined;
      for (const s of this.slots) {
        if (s.jobs.length < this.perWorker && (!slot || s.jobs.length < slot.jobs.length)) slot = s;
      }
      if (!slot) return;
      const job = this.queue.shift() as Job;
      if (job.signal?.aborted) {
        this.settle(job, cancelled());
        continue;
      }
      slot.jobs.push(job);
      const { payload } = job;
      if (payload.type === 'frame') {
        // the session worker hears of the frame first, then the decode worker hands it over, preprocessed
        const request: FrameRequest = { type: 'frame', id: job.id };
        slot.worker.postMessage(request);
        this.decoder?.decode(job.id, slot.key, payload.frame);
      } else {
        const transfer = Object.values(payload.feeds).map((t) => t.data.buffer as ArrayBuffer);
        const request: RunRequest = { type: 'run', id: job.id, feeds: payload.feeds, region: payload.region };
        slot.worker.postMessage(request, transfer);
      }
    }
  }
}

function cancelled(): AgentError {
  return new AgentError(ErrorCodes.INFERENCE_FAILED, 'inference cancelled: its caller gave up');
}
