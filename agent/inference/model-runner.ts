import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
// onnxruntime-node is loaded in the main thread too, so its shared library stays mapped while workers come
// and go (a native addon unloaded under a live worker can take the process down; see docs/architecture.md).
import 'onnxruntime-node';
import type { Logger } from 'pino';
import type { Frame } from '../capture/index.js';
import type { ModelConfig } from '../config/index.js';
import type { ModelRef, TaskResult } from '../decision/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { Service } from '../service.js';
import type { AnomalyMap } from './anomaly.js';
import { decodeOutputs } from './decode.js';
import { goldenFailure } from './golden.js';
import { type LoadedManifest, loadManifest } from './manifest.js';
import { planResize, preprocess, toTensor } from './preprocess.js';
import type { ProviderAttempt } from './protocol.js';
import { SessionPool } from './worker-pool.js';

export type ModelState = 'loading' | 'ready' | 'failed' | 'stopped';

export interface Inference {
  result: TaskResult;
  model: ModelRef;
  sourceWidth: number;
  sourceHeight: number;
  timings: { preprocess: number; queue: number; inference: number };
  /** the anomaly map in model-input pixels, values as the model gave them (anomaly models only) */
  maps?: { anomaly?: AnomalyMap };
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

/**
 * One configured model: its manifest, a pool of session workers, preprocessing and decoding. `start` never
 * throws: a model that cannot load is reported (`state: failed`, with the reason) and its cameras degrade,
 * while other models and cameras run on.
 */
export class ModelRunner implements Service {
  readonly name: string;
  private loaded: LoadedManifest | undefined;
  private pool: SessionPool | undefined;
  private status: ModelStatus;

  constructor(
    private readonly config: ModelConfig,
    private readonly log: Logger,
    private readonly onProblem: (err: Error) => void = () => {},
  ) {
    this.name = `model:${config.id}`;
    this.status = {
      id: config.id,
      state: 'loading',
      version: null,
      sha256: null,
      provider: null,
      providerAttempts: [],
      labels: [],
      error: null,
    };
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

  snapshot(): ModelStatus {
    return { ...this.status };
  }

  async start(): Promise<void> {
    try {
      await this.load();
    } catch (err) {
      this.status = { ...this.status, state: 'failed', error: describeError(err) };
      this.log.error({ err }, 'model failed to load; its cameras will report ERROR decisions');
      await this.pool?.close(0);
      this.pool = undefined;
    }
  }

  async stop(): Promise<void> {
    this.status = { ...this.status, state: 'stopped' };
    await this.pool?.close();
    this.pool = undefined;
  }

  async infer(frame: Frame, signal?: AbortSignal): Promise<Inference> {
    const loaded = this.loaded;
    const pool = this.pool;
    if (this.status.state !== 'ready' || !loaded || !pool) {
      throw new AgentError(
        ErrorCodes.MODEL_UNAVAILABLE,
        `model ${this.config.id} is ${this.status.state}${this.status.error ? `: ${this.status.error}` : ''}`,
      );
    }
    const t0 = performance.now();
    const pre = await preprocess(frame, loaded.manifest.input);
    const preprocessMs = performance.now() - t0;
    const run = await pool.run({ [loaded.manifest.input.name]: pre.tensor }, signal);
    const decoded = decodeOutputs(run.outputs, loaded.manifest, pre.geometry);
    return {
      result: decoded.result,
      ...(decoded.maps ? { maps: decoded.maps } : {}),
      model: this.modelRef(),
      sourceWidth: pre.sourceWidth,
      sourceHeight: pre.sourceHeight,
      timings: { preprocess: preprocessMs, queue: run.queueMs, inference: run.inferenceMs },
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

  private async load(): Promise<void> {
    const loaded = loadManifest(this.config.path, this.config.manifest);
    this.loaded = loaded;
    const { manifest } = loaded;
    this.status = {
      ...this.status,
      version: manifest.version,
      sha256: loaded.sha256,
      labels: [...manifest.labels],
    };
    const pool = new SessionPool(this.config.workers, this.log, (err) => this.onProblem(err));
    this.pool = pool;
    const chosen = await pool.load(loaded.modelPath, [...this.config.providers], this.config.intraOpThreads);
    for (const attempt of chosen.attempts.filter((a) => a.error)) {
      this.log.warn({ provider: attempt.provider, reason: attempt.error }, 'execution provider unavailable');
    }
    // the manifest was checked against the decoded graph; this catches a graph onnxruntime sees otherwise
    if (!chosen.inputNames.includes(manifest.input.name)) {
      throw new AgentError(
        ErrorCodes.MODEL_MANIFEST,
        `model ${manifest.id}: manifest input "${manifest.input.name}" is not a model input (${chosen.inputNames.join(', ')})`,
      );
    }
    this.status = { ...this.status, provider: chosen.provider, providerAttempts: chosen.attempts };

    // warm-up: the first run allocates and optimises; doing it here keeps it out of the first part's deadline
    const blank = new Uint8Array(manifest.input.width * manifest.input.height * 3);
    const warm = await pool.run({ [manifest.input.name]: toTensor(blank, manifest.input) });
    // decoding the warm-up output checks the real output shapes against the task (free dims included)
    try {
      decodeOutputs(
        warm.outputs,
        manifest,
        planResize(manifest.input.width, manifest.input.height, manifest.input).geometry,
      );
    } catch (err) {
      throw new AgentError(ErrorCodes.MODEL_LOAD, `warm-up run failed: ${describeError(err)}`, {
        cause: err,
      });
    }

    this.status = { ...this.status, state: 'ready', error: null };
    await this.checkGoldenImages(loaded);
    this.log.info(
      { version: manifest.version, provider: chosen.provider, golden: loaded.goldenPaths.length },
      'model ready',
    );
  }

  /** Every golden image must give its expected result (golden.ts says what matches, per task). */
  private async checkGoldenImages(loaded: LoadedManifest): Promise<void> {
    const failures: string[] = [];
    for (const [i, golden] of loaded.manifest.golden.entries()) {
      const path = loaded.goldenPaths[i] as string;
      try {
        const data = await readFile(path);
        const { result } = await this.infer({ kind: 'encoded', data, capturedAt: Date.now(), name: path });
        const failure = goldenFailure(golden, result);
        if (failure) failures.push(`${golden.image}: ${failure}`);
      } catch (err) {
        failures.push(`${golden.image}: ${describeError(err)}`);
      }
    }
    if (failures.length > 0) {
      throw new AgentError(ErrorCodes.MODEL_GOLDEN, `golden images failed: ${failures.join('; ')}`);
    }
  }
}
