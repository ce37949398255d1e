import { join } from 'node:path';
// onnxruntime-node is loaded in the main thread too, so its shared library stays mapped while workers come
// and go (a native addon unloaded under a live worker can take the process down; see docs/architecture.md).
import 'onnxruntime-node';
import type { Logger } from 'pino';
import type { Frame } from '../capture/index.js';
import type { ModelConfig } from '../config/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import { type Clock, type Service, systemClock, waitUntil } from '../service.js';
import type { AnomalyMap } from './anomaly.js';
import { checkGoldenImages } from './golden.js';
import type { ImageStats } from './image-stats.js';
import { type LoadedManifest, loadManifest } from './manifest.js';
import type { ProviderAttempt, WorkerFaults } from './protocol.js';
import type { ModelRef, TaskResult } from './result.js';
import { isProviderFault, SessionPool } from './worker-pool.js';

export type ModelState = 'loading' | 'ready' | 'failed' | 'stopped';

export interface Inference {
  result: TaskResult;
  model: ModelRef;
  sourceWidth: number;
  sourceHeight: number;
  timings: { preprocess: number; queue: number; inference: number };
  /**
   * The class names of the version that produced this result: a frame that started on a version just
   * replaced, or a shadow's result, is judged with its own model's labels, not the active one's.
   */
  labels?: readonly string[];
  /** the anomaly map in model-input pixels, values as the model gave them (anomaly models only) */
  maps?: { anomaly?: AnomalyMap };
  /** What the frame looked like to the model (computed in the worker; drift monitoring reads it). */
  imageStats?: ImageStats;
  /** How many frames the session.run that judged this one took (manifest `batch`; 1 when alone). */
  batch?: number;
}

export interface ModelStatus {
  id: string;
  state: ModelState;
  version: string | null;
  sha256: string | null;
  provider: string | null;
  providerAttempts: ProviderAttempt[];
  labels: string[];
  error: string | null;
}

/** A model's status before its first version has loaded. */
export function loadingStatus(id: string): ModelStatus {
  return {
    id,
    state: 'loading',
    version: null,
    sha256: null,
    provider: null,
    providerAttempts: [],
    labels: [],
    error: null,
  };
}

/** What one loaded version needs: the model entry of agent.yaml, or an installed version's folder. */
export type RunnerConfig = Pick<ModelConfig, 'id' | 'path' | 'providers' | 'workers' | 'intraOpThreads'> & {
  manifest?: string | undefined;
  /** Folder for TensorRT EP-context dumps (engine cache); none = the engine is rebuilt at every load. */
  engineCacheDir?: string | undefined;
};

export interface ProviderFallback {
  model: string;
  version: string;
  from: string;
  to: string;
  reason: string;
}

export interface RunnerOptions {
  onProblem?: (err: Error) => void;
  /** A provider failed at run time and the model moved on to the next one in its list. */
  onProviderFallback?: (event: ProviderFallback) => void;
  /** Tests only: see WorkerFaults. */
  faults?: WorkerFaults;
  /** Bounds the drain of a retired version and of its workers (default: the system clock). */
  clock?: Clock;
}

/**
 * One loaded version of one model: its manifest, a pool of session workers, preprocessing and decoding.
 * `start` never throws: a model that cannot load is reported (`state: failed`, with the reason) and its
 * cameras degrade, while other models and cameras run on. Providers are tried in order and one is chosen
 * only once it has loaded, warmed up and passed the golden images; a provider that fails at run time is
 * replaced by the next one (ultimately CPU) with a fresh worker pool.
 */
export class ModelRunner implements Service {
  readonly name: string;
  private loaded: LoadedManifest | undefined;
  private pool: SessionPool | undefined;
  private status: ModelStatus;
  private switching: Promise<void> | undefined;
  private inFlight = 0;
  private readonly clock: Clock;

  constructor(
    private readonly config: RunnerConfig,
    private readonly log: Logger,
    private readonly options: RunnerOptions = {},
  ) {
    this.name = `model:${config.id}`;
    this.clock = options.clock ?? systemClock;
    this.status = loadingStatus(config.id);
  }

  get id(): string {
    return this.config.id;
  }

  get state(): ModelState {
    return this.status.state;
  }

  get labels(): readonly string[] {
    return this.status.labels;
  }

  get version(): string | null {
    return this.status.version;
  }

  get manifest(): LoadedManifest | undefined {
    return this.loaded;
  }

  snapshot(): ModelStatus {
    return { ...this.status, providerAttempts: [...this.status.providerAttempts] };
  }

  /** Loads, warms up and checks the model; `signal` (the agent stopping) ends it after the current step. */
  async start(signal?: AbortSignal): Promise<void> {
    try {
      await this.load(signal);
    } catch (err) {
      if (signal?.aborted) {
        this.status = { ...this.status, state: 'stopped', error: describeError(err) };
        this.log.info('model loading stopped: the agent is stopping');
      } else {
        this.status = { ...this.status, state: 'failed', error: describeError(err) };
        this.log.error({ err }, 'model failed to load; its cameras will report ERROR decisions');
      }
      await this.pool?.close(0);
      this.pool = undefined;
    }
  }

  async stop(): Promise<void> {
    this.status = { ...this.status, state: 'stopped' };
    // a provider switch under way ends first: the pool it leaves (if any) is the one closed below
    if (this.switching) await this.switching;
    await this.pool?.close();
    this.pool = undefined;
  }

  /** Waits (bounded) until no inference is running or queued here, so retiring this version cuts no frame. */
  async drain(timeoutMs = 10_000): Promise<void> {
    await waitUntil(() => this.inFlight === 0 && (this.pool?.busy ?? 0) === 0, timeoutMs, 5, this.clock);
  }

  async infer(frame: Frame, signal?: AbortSignal): Promise<Inference> {
    // a provider switch in progress: wait for it (the caller's deadline bounds the wait)
    if (this.switching) await this.switching;
    const loaded = this.loaded;
    const pool = this.pool;
    if (this.status.state !== 'ready' || !loaded || !pool) {
      throw new AgentError(
        ErrorCodes.MODEL_UNAVAILABLE,
        `model ${this.config.id} is ${this.status.state}${this.status.error ? `: ${this.status.error}` : ''}`,
      );
    }
    this.inFlight++;
    try {
      return await this.inferWith(pool, loaded, frame, signal);
    } catch (err) {
      if (signal?.aborted) throw err; // the caller gave up (deadline): nothing to retry for
      if (isProviderFault(err) && this.pool === pool) await this.fallBack(pool, describeError(err));
      else if (this.switching) await this.switching;
      // switched meanwhile (by this frame or another one): frames the failed pool dropped run on the new one
      const next = this.pool;
      if (!next || next === pool || this.status.state !== 'ready') throw err;
      return await this.inferWith(next, loaded, frame, signal); // the same frame once more, on the new provider
    } finally {
      this.inFlight--;
    }
  }

  private async inferWith(
    pool: SessionPool,
    loaded: LoadedManifest,
    frame: Frame,
    signal?: AbortSignal,
  ): Promise<Inference> {
    // decoded, preprocessed, run and decoded again in a worker: here only bytes go out and a result comes in
    const run = await pool.infer(frame, signal);
    return {
      result: run.result,
      ...(run.maps ? { maps: run.maps } : {}),
      ...(run.imageStats ? { imageStats: run.imageStats } : {}),
      model: this.modelRef(),
      labels: loaded.manifest.labels,
      sourceWidth: run.sourceWidth,
      sourceHeight: run.sourceHeight,
      timings: { preprocess: run.preprocessMs, queue: run.queueMs, inference: run.inferenceMs },
      batch: run.batch,
    };
  }

  private modelRef(): ModelRef {
    return {
      id: this.config.id,
      version: this.status.version ?? '?',
      sha256: this.status.sha256 ?? '',
      provider: this.status.provider ?? 'none',
    };
  }

  private async load(signal?: AbortSignal): Promise<void> {
    const loaded = loadManifest(this.config.path, this.config.manifest);
    this.loaded = loaded;
    const { manifest } = loaded;
    this.status = {
      ...this.status,
      version: manifest.version,
      sha256: loaded.sha256,
      labels: [...manifest.labels],
    };
    const { pool, provider, attempts } = await this.choose(loaded, [...this.config.providers], signal);
    this.pool = pool;
    this.status = { ...this.status, state: 'ready', error: null, provider, providerAttempts: attempts };
    this.log.info({ version: manifest.version, provider, golden: loaded.goldenPaths.length }, 'model ready');
  }

  /**
   * Tries `providers` in order: the first whose session loads, warms up and passes every golden image wins.
   * A provider rejected at warm-up or golden stage is recorded with its reason and the next one is tried.
   */
  private async choose(
    loaded: LoadedManifest,
    providers: string[],
    signal?: AbortSignal,
  ): Promise<{ pool: SessionPool; provider: string; attempts: ProviderAttempt[] }> {
    const attempts: ProviderAttempt[] = [];
    let remaining = providers;
    let lastError: unknown;
    while (remaining.length > 0) {
      const pool = new SessionPool(
        this.config.workers,
        this.log,
        (err) => this.options.onProblem?.(err),
        this.clock,
        loaded.manifest.batch?.max ?? 1,
      );
      let provider: string;
      try {
        const chosen = await pool.load({
          modelPath: loaded.modelPath,
          providers: remaining,
          intraOpThreads: this.config.intraOpThreads,
          engineCacheFile: this.engineCacheFile(loaded),
          expectSha256: loaded.sha256,
          faults: this.options.faults,
          stats: { feed: loaded.manifest.input.name, input: loaded.manifest.input },
          manifest: loaded.manifest,
        });
        attempts.push(...chosen.attempts.slice(0, -1));
        provider = chosen.provider;
        for (const a of chosen.attempts.filter((x) => x.error)) {
          this.log.warn({ provider: a.provider, reason: a.error }, 'execution provider unavailable');
        }
        if (!chosen.inputNames.includes(loaded.manifest.input.name)) {
          await pool.close(0);
          throw new AgentError(
            ErrorCodes.MODEL_MANIFEST,
            `model ${loaded.manifest.id}: manifest input "${loaded.manifest.input.name}" is not a model input (${chosen.inputNames.join(', ')})`,
          );
        }
      } catch (err) {
        await pool.close(0);
        const failed = (err as { attempts?: ProviderAttempt[] }).attempts;
        if (failed) attempts.push(...failed);
        this.status = { ...this.status, providerAttempts: attempts };
        throw err;
      }
      if (signal?.aborted) {
        // the agent is stopping: a session that loaded is not warmed up and checked for nothing
        await pool.close(0);
        throw new AgentError(ErrorCodes.MODEL_LOAD, 'loading stopped: the agent is stopping');
      }
      let stage: 'warm-up' | 'golden' = 'warm-up';
      try {
        // warm-up, on every worker: the first run allocates and optimises (out of the first deadline), and
        // decoding its outputs checks the real output shapes against the task (free dims included)
        try {
          const batch = await pool.warmUp();
          const wanted = loaded.manifest.batch?.max ?? 1;
          if (batch < wanted) {
            this.log.warn(
              { wanted, batch },
              'the model did not split its outputs per frame: frames run one by one',
            );
          }
        } catch (err) {
          if (isProviderFault(err)) throw err;
          throw new AgentError(ErrorCodes.MODEL_LOAD, `warm-up run failed: ${describeError(err)}`, {
            cause: err,
          });
        }
        stage = 'golden';
        await checkGoldenImages(loaded, (frame) => this.inferWith(pool, loaded, frame), this.clock);
        attempts.push({ provider });
        return { pool, provider, attempts };
      } catch (err) {
        lastError = err;
        attempts.push({ provider, stage, error: describeError(err) });
        this.log.warn({ provider, stage, reason: describeError(err) }, 'execution provider rejected');
        await pool.close(0);
        remaining = remaining.slice(remaining.indexOf(provider) + 1);
      }
    }
    this.status = { ...this.status, providerAttempts: attempts };
    throw lastError;
  }

  /**
   * The provider in use failed at run time: load the model again with the providers after it (warm-up and
   * golden images included), switch to that pool and retire the failed one. One switch at a time.
   */
  private fallBack(failedPool: SessionPool, reason: string): Promise<void> {
    if (this.switching) return this.switching;
    if (this.status.state === 'stopped') return Promise.resolve(); // stop() closes the pool; no new one
    const loaded = this.loaded;
    const from = this.status.provider ?? 'none';
    const providers = [...this.config.providers];
    const rest = providers.slice(providers.indexOf(from as (typeof providers)[number]) + 1);
    if (!loaded || rest.length === 0) return Promise.resolve(); // already on the last provider
    this.log.error({ provider: from, reason, next: rest }, 'execution provider failed at run time');
    this.switching = (async () => {
      try {
        const chosen = await this.choose(loaded, rest);
        this.pool = chosen.pool;
        this.status = {
          ...this.status,
          provider: chosen.provider,
          providerAttempts: [
            ...this.status.providerAttempts,
            { provider: from, stage: 'run', error: reason },
            ...chosen.attempts,
          ],
        };
        this.options.onProviderFallback?.({
          model: this.config.id,
          version: this.status.version ?? '?',
          from,
          to: chosen.provider,
          reason,
        });
      } catch (err) {
        this.status = {
          ...this.status,
          state: this.status.state === 'stopped' ? 'stopped' : 'failed',
          error: `provider ${from} failed (${reason}); ${describeError(err)}`,
        };
        this.pool = undefined;
      } finally {
        this.switching = undefined;
      }
      await failedPool.close(1_000);
    })();
    return this.switching;
  }

  private engineCacheFile(loaded: LoadedManifest): string | undefined {
    if (!this.config.engineCacheDir) return undefined;
    // keyed by the model's hash: a new version never opens an engine built for another one
    return join(this.config.engineCacheDir, `${this.config.id}-${loaded.sha256.slice(0, 16)}-trt_ctx.onnx`);
  }
}
