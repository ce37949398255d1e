import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ModelConfig } from '../config/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import {
  findManifest,
  loadManifest,
  ModelRunner,
  onnxLayoutProblem,
  type ProviderFallback,
  parseManifest,
  readRawManifest,
  type WorkerFaults,
} from '../inference/index.js';
import type { Clock } from '../service.js';
import { VersionStore } from './versions.js';

/** sha256 of an upload's files as they were received (http/model-upload.ts), by their path in the folder. */
export type UploadedHashes = Readonly<Record<string, { sha256: string }>>;

/** The sha256 an upload's manifest states for its model, if it states one and can be read. */
function statedSha256(dir: string): string | undefined {
  const path = findManifest(join(dir, 'model.onnx'));
  if (!path) return undefined;
  try {
    return parseManifest(readRawManifest(path), path).sha256;
  } catch {
    return undefined; // an unreadable manifest is refused with its reason by loadManifest in vet()
  }
}

export interface VersionLoaderDeps {
  log: Logger;
  clock: Clock;
  versions: VersionStore;
  onProviderFallback: (event: ProviderFallback) => void;
  /** Tests only: fault injection per loaded model file. */
  faults?: ((modelPath: string) => WorkerFaults | undefined) | undefined;
}

/**
 * Makes and ends the runners of one model's versions: the configured one (agent.yaml's file), an installed
 * one (VersionStore), an upload (vetted, copied in, loaded and verified, or refused and removed). Which
 * version is active, shadow or previous is ModelDeployment's business; this only loads and retires.
 */
export class VersionLoader {
  constructor(
    private readonly config: ModelConfig,
    private readonly deps: VersionLoaderDeps,
  ) {}

  /** The version agent.yaml's model file carries; null when its manifest cannot be read. */
  configuredVersion(): string | null {
    try {
      return loadManifest(this.config.path, this.config.manifest).manifest.version;
    } catch (err) {
      this.deps.log.debug({ err }, 'configured model manifest unreadable');
      return null;
    }
  }

  /** The configured version's runner, not started. */
  configured(): ModelRunner {
    return this.newRunner(this.config.path, this.config.manifest);
  }

  /** A runner for `version`, configured or installed, not started; undefined when it is neither. */
  runnerFor(version: string): ModelRunner | undefined {
    if (version === this.configuredVersion()) return this.configured();
    const path = this.deps.versions.modelPath(version);
    return path ? this.newRunner(path) : undefined;
  }

  /**
   * Copies a version folder (model.onnx, manifest, golden images) in and loads it (manifest, sha256, ONNX,
   * warm-up, golden images): resolves with its started runner, or refuses with the reason and leaves nothing
   * behind. `active` is the model as it runs now: an upload must carry its id and a version not yet here.
   */
  async install(
    sourceDir: string,
    active: { id: string; version: string | null },
    integrity: { requireSha256?: boolean; requireGolden?: boolean } = {},
    uploaded?: UploadedHashes,
  ): Promise<{ version: string; runner: ModelRunner }> {
    const version = await this.vet(sourceDir, active, integrity, uploaded?.['model.onnx']);
    const folder = this.deps.versions.folder(version);
    cpSync(sourceDir, folder, { recursive: true });
    const runner = this.newRunner(join(folder, 'model.onnx'));
    await runner.start();
    const loaded = runner.snapshot();
    const streamed = uploaded?.['model.onnx']?.sha256;
    // the file loaded is the file received: the hash taken while it streamed in must be the one loaded
    const reason =
      runner.state !== 'ready'
        ? (loaded.error ?? 'did not load')
        : streamed && loaded.sha256 !== streamed
          ? `model.onnx changed after it was received (sha256 ${streamed.slice(0, 12)}… received, ${loaded.sha256?.slice(0, 12)}… loaded)`
          : undefined;
    if (reason) {
      await runner.stop();
      rmSync(folder, { recursive: true, force: true });
      throw new AgentError(
        ErrorCodes.MODEL_REJECTED,
        `model ${this.config.id} version ${version} refused: ${reason}; active version ${active.version} unchanged`,
      );
    }
    return { version, runner };
  }

  /**
   * Checks an upload before anything is copied; its version. The model file's layout is checked first,
   * reading a few bytes (onnxLayoutProblem), so a large file that is no model is refused before anything
   * reads it whole; a manifest that states a sha256 is held to the hash taken while the file was received.
   */
  private async vet(
    sourceDir: string,
    active: { id: string; version: string | null },
    integrity: { requireSha256?: boolean; requireGolden?: boolean },
    received: { sha256: string } | undefined,
  ): Promise<string> {
    const unchanged = `active version ${active.version} unchanged`;
    const modelFile = join(sourceDir, 'model.onnx');
    if (!existsSync(modelFile)) {
      // a listing is bounded: an upload of thousands of files does not make an error of that size
      const files = readdirSync(sourceDir);
      const shown =
        files.slice(0, 20).join(', ') + (files.length > 20 ? `, ... (${files.length} in all)` : '');
      throw new AgentError(
        ErrorCodes.MODEL_REJECTED,
        `model ${this.config.id}: no model.onnx in the upload (${shown}); ${unchanged}`,
      );
    }
    const refuse = (why: string) =>
      new AgentError(
        ErrorCodes.MODEL_REJECTED,
        `model ${this.config.id}: upload refused: ${why}; ${unchanged}`,
      );
    const layout = await onnxLayoutProblem(modelFile);
    if (layout) throw refuse(`model.onnx is not an ONNX model: ${layout}`);
    const stated = statedSha256(sourceDir);
    if (stated && received && stated !== received.sha256) {
      throw refuse(
        `model.onnx does not match its manifest: sha256 ${received.sha256.slice(0, 12)}… received, ${stated.slice(0, 12)}… expected`,
      );
    }
    let version: string;
    try {
      const m = loadManifest(modelFile).manifest;
      if (m.id !== active.id) throw new Error(`manifest id "${m.id}" is not this model's ("${active.id}")`);
      if (integrity.requireSha256 && !m.sha256) {
        throw new Error('its manifest gives no sha256 of model.onnx (models[].requireSha256)');
      }
      if (integrity.requireGolden && m.golden.length === 0) {
        throw new Error('its manifest names no golden images (models[].requireGolden)');
      }
      version = m.version;
      VersionStore.checkVersion(version);
    } catch (err) {
      throw new AgentError(
        ErrorCodes.MODEL_REJECTED,
        `model ${this.config.id}: upload refused: ${describeError(err)}; ${unchanged}`,
        {
          cause: err,
        },
      );
    }
    if (
      version === active.version ||
      version === this.configuredVersion() ||
      this.deps.versions.modelPath(version)
    ) {
      throw new AgentError(
        ErrorCodes.MODEL_REJECTED,
        `model ${this.config.id}: version ${version} is already installed; give the new one a new version; ${unchanged}`,
      );
    }
    return version;
  }

  private newRunner(path: string, manifest?: string): ModelRunner {
    const c = this.config;
    const faults = this.deps.faults?.(path);
    return new ModelRunner(
      {
        id: c.id,
        path,
        manifest,
        providers: c.providers,
        workers: c.workers,
        intraOpThreads: c.intraOpThreads,
        engineCacheDir: c.engineCacheDir,
      },
      this.deps.log,
      {
        onProviderFallback: this.deps.onProviderFallback,
        clock: this.deps.clock,
        ...(faults ? { faults } : {}),
      },
    );
  }
}

/** Lets a retired version finish its frames, then ends its worker threads (and their sessions' memory). */
export async function retire(runner: ModelRunner | undefined): Promise<void> {
  if (!runner) return;
  await runner.drain();
  await runner.stop();
}
