import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { AlertSink } from '../alerts.js';
import type { Frame } from '../capture/index.js';
import type { ModelConfig } from '../config/index.js';
import type { Inferrer } from '../decision/index.js';
import { AgentError, ErrorCodes } from '../errors.js';
import type { EventBus } from '../events.js';
import {
  type Inference,
  loadingStatus,
  type ModelRunner,
  type ModelState,
  type ModelStatus,
  type ProviderFallback,
  type WorkerFaults,
} from '../inference/index.js';
import type { Clock, Service } from '../service.js';
import { HealthWatch, type Outcome } from './health-watch.js';
import type { Judge } from './judge.js';
import type { DeploymentMetrics } from './metrics.js';
import type { ShadowReport, ShadowStore } from './shadow.js';
import { ShadowLane, type ShadowStatus } from './shadow-lane.js';
import { retire, VersionLoader } from './version-loader.js';
import { VersionStore } from './versions.js';

declare module '../events.js' {
  interface AgentEvents {
    /** A model's active version or its state changed (loaded, failed, promoted, rolled back, fell back). */
    ModelChanged: { modelId: string; version: string | null; state: string; provider: string | null };
  }
}

export interface DeploymentDeps {
  log: Logger;
  clock: Clock;
  /** Folder of installed versions and active.json. */
  versionsDir: string;
  shadowStore?: ShadowStore | undefined;
  metrics?: DeploymentMetrics | undefined;
  /** MODEL_PROVIDER_FALLBACK, MODEL_AUTO_ROLLBACK, ... are raised here. */
  alerts?: AlertSink;
  /** `ModelChanged` is told here. */
  events?: EventBus;
  /** Tests only: fault injection per loaded model file. */
  faults?: (modelPath: string) => WorkerFaults | undefined;
}

/** `unloaded`: recipes freed this model while no active recipe uses it (docs/recipes.md). */
export type DeploymentState = ModelState | 'unloaded';

export interface DeploymentStatus extends Omit<ModelStatus, 'state'> {
  state: DeploymentState;
  previousVersion: string | null;
  installed: string[];
  shadow: ShadowStatus | null;
  watchingAfterPromotion: boolean;
}

/**
 * One configured model across its versions: the active version judges the line; a candidate (shadow) runs
 * on the same frames after the active result, off the deadline path, and is only compared; `promote` swaps
 * between two frames (each frame holds the runner it started with, so none sees half a swap); the retired
 * version's workers are drained and ended, which also returns the memory onnxruntime keeps per session.
 */
export class ModelDeployment implements Service {
  readonly name: string;
  private active: ModelRunner | undefined;
  private shadow: ShadowLane | undefined;
  private previous: string | null = null;
  private readonly versions: VersionStore;
  private readonly loader: VersionLoader;
  private readonly watch: HealthWatch;
  private busy: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private activeLabels: { model: string; version: string; provider: string } | undefined;
  private unloaded = false;

  constructor(
    private readonly config: ModelConfig,
    private readonly deps: DeploymentDeps,
  ) {
    this.name = `model:${config.id}`;
    this.versions = new VersionStore(deps.versionsDir);
    this.loader = new VersionLoader(config, {
      log: deps.log,
      clock: deps.clock,
      versions: this.versions,
      onProviderFallback: (e) => this.providerFallback(e),
      faults: deps.faults,
    });
    this.watch = new HealthWatch(config.autoRollback);
  }

  get id(): string {
    return this.config.id;
  }

  get state(): DeploymentState {
    if (this.unloaded) return 'unloaded';
    return this.active?.state ?? 'loading';
  }

  get labels(): readonly string[] {
    return this.active?.labels ?? [];
  }

  get activeVersion(): string | null {
    return this.active?.version ?? null;
  }

  snapshot(): DeploymentStatus {
    const base: ModelStatus = this.active?.snapshot() ?? loadingStatus(this.config.id);
    return {
      ...base,
      ...(this.unloaded ? { state: 'unloaded' as const } : {}),
      previousVersion: this.previous,
      installed: this.versions.installed(),
      shadow: this.shadow?.status() ?? null,
      watchingAfterPromotion: this.watch.active,
    };
  }

  /** Loads the persisted active version (else the configured one); never throws, like ModelRunner. */
  async start(signal?: AbortSignal): Promise<void> {
    const configuredVersion = this.loader.configuredVersion();
    let record: ReturnType<VersionStore['readActive']>;
    try {
      record = this.versions.readActive();
    } catch (err) {
      this.deps.log.error({ err }, 'active-version record unreadable; starting the configured version');
    }
    if (record && configuredVersion !== null && record.configured !== configuredVersion) {
      this.deps.log.warn(
        { recorded: record.active, configured: configuredVersion },
        'agent.yaml names a different model version than when the active version was recorded; the configured one wins',
      );
      record = undefined;
    }
    if (record && record.active !== configuredVersion) {
      const runner = this.loader.runnerFor(record.active);
      if (runner) {
        await runner.start(signal);
        if (signal?.aborted) return void (await runner.stop());
        if (runner.state === 'ready') {
          this.active = runner;
          this.previous = record.previous;
          this.publishActive();
          return;
        }
        await runner.stop();
        this.deps.log.error(
          { version: record.active, error: runner.snapshot().error },
          'recorded active version does not load; starting the configured version',
        );
      }
    }
    const runner = this.loader.configured();
    await runner.start(signal);
    this.active = runner;
    this.previous = record?.previous ?? null;
    this.publishActive();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // an install or promote under way finishes first (serial() takes no more), so no runner it starts is
    // left with live workers after this
    await this.busy;
    this.shadow?.close();
    await Promise.all([this.active?.stop(), this.shadow?.runner.stop()]);
  }

  /** Recipes (docs/recipes.md): frees the workers while no active recipe uses this model; parts on it finish first. */
  unload(): Promise<void> {
    return this.serial(async () => {
      const [runner, shadow] = [this.active, this.shadow];
      [this.active, this.shadow, this.unloaded] = [undefined, undefined, true];
      shadow?.close();
      await Promise.all([retire(runner), retire(shadow?.runner)]);
      if (this.activeLabels) this.deps.metrics?.active.remove(this.activeLabels);
      const change = { modelId: this.config.id, version: null, state: 'unloaded', provider: null };
      this.deps.events?.emit('ModelChanged', change);
    });
  }

  /** Recipes: loads the model again after `unload()`, as at start (the recorded active version). */
  load(signal?: AbortSignal): Promise<void> {
    return this.serial(async () => {
      if (!this.unloaded) return;
      this.unloaded = false;
      await this.start(signal);
    });
  }

  /** The model as one camera sees it: its results feed the shadow comparison under that camera's rules. */
  forCamera(cameraId: string, judge?: Judge): Inferrer {
    const deployment = this;
    return {
      get labels() {
        return deployment.labels;
      },
      infer: (frame, signal) => deployment.infer(frame, signal, cameraId, judge),
    };
  }

  async infer(frame: Frame, signal?: AbortSignal, cameraId = '', judge?: Judge): Promise<Inference> {
    const runner = this.active; // taken once: a promotion during this frame does not touch it
    if (!runner) throw new AgentError(ErrorCodes.MODEL_UNAVAILABLE, `model ${this.id} is ${this.state}`);
    const t0 = performance.now();
    let outcome: Outcome = 'ok';
    try {
      const inference = await runner.infer(frame, signal);
      if (signal?.aborted) outcome = 'miss';
      // past the deadline the line got the fallback verdict, not this result: nothing to compare against
      else this.shadow?.offer(cameraId, frame, inference, performance.now() - t0, judge);
      return inference;
    } catch (err) {
      outcome = signal?.aborted ? 'miss' : 'error';
      throw err;
    } finally {
      if (runner === this.active) this.observe(outcome);
    }
  }

  /**
   * Copies a version folder (model.onnx, manifest, golden images) in, verifies it (manifest, sha256, ONNX,
   * warm-up, golden images: VersionLoader.install) and makes it the shadow. Refused with the reason
   * otherwise; the active version is never touched.
   */
  install(
    sourceDir: string,
  ): Promise<{ model: string; version: string; sha256: string; provider: string | null }> {
    return this.serial(async () => {
      const { version, runner } = await this.loader.install(sourceDir, {
        id: this.active?.manifest?.manifest.id ?? this.config.id,
        version: this.activeVersion,
      });
      const replaced = this.shadow;
      replaced?.close();
      this.shadow = new ShadowLane(runner, {
        model: this.config.id,
        clock: this.deps.clock,
        store: this.deps.shadowStore,
        metrics: this.deps.metrics,
      });
      await retire(replaced?.runner);
      const s = runner.snapshot();
      this.deps.log.info({ version, provider: s.provider }, 'model version installed; running in shadow');
      return { model: this.config.id, version, sha256: s.sha256 ?? '', provider: s.provider };
    });
  }

  /** Makes `version` the active one between two frames; the version it replaces becomes `previous`. */
  promote(version: string, why = 'promote'): Promise<Record<string, unknown>> {
    return this.serial(async () => {
      const off = `model ${this.id} is unloaded (no active recipe uses it): select a recipe that does first`;
      if (this.unloaded) throw new AgentError(ErrorCodes.MODEL_DEPLOY, off);
      const old = this.active;
      if (old?.version === version) {
        throw new AgentError(
          ErrorCodes.MODEL_DEPLOY,
          `model ${this.config.id}: version ${version} is already active`,
        );
      }
      let candidate: ModelRunner;
      let report: ShadowReport | null = null;
      if (this.shadow?.version === version && this.shadow.runner.state === 'ready') {
        candidate = this.shadow.runner;
        report = this.shadow.close();
        this.shadow = undefined;
      } else {
        const fresh = this.loader.runnerFor(version);
        if (!fresh) {
          throw new AgentError(
            ErrorCodes.MODEL_DEPLOY,
            `model ${this.config.id}: version ${version} is not installed (installed: ${[this.loader.configuredVersion(), ...this.versions.installed()].join(', ')})`,
          );
        }
        await fresh.start();
        if (fresh.state !== 'ready') {
          const reason = fresh.snapshot().error;
          await fresh.stop();
          throw new AgentError(
            ErrorCodes.MODEL_DEPLOY,
            `model ${this.config.id}: version ${version} does not load: ${reason}`,
          );
        }
        candidate = fresh;
      }
      // the swap itself: one assignment, between two frames
      this.active = candidate;
      this.previous = old?.version ?? null;
      this.watch.promoted(this.deps.clock.now());
      try {
        this.versions.writeActive({
          active: version,
          previous: this.previous,
          configured: this.loader.configuredVersion() ?? '',
          at: this.deps.clock.now(),
        });
        this.deps.log.warn({ version, previous: this.previous, why }, 'model version switched');
        this.publishActive();
        this.deps.metrics?.swaps.inc({ model: this.config.id, why });
        if (why !== 'auto-rollback') {
          this.deps.alerts?.raise({
            code: 'MODEL_AUTO_ROLLBACK',
            severity: 'critical',
            modelId: this.config.id,
            message: `model ${this.config.id}: version ${version} promoted by hand`,
            active: false,
          });
        }
      } finally {
        // the swap has happened even if recording it failed (disk full): the old version's workers still end
        await retire(old);
      }
      return {
        model: this.config.id,
        version,
        previous: this.previous,
        provider: candidate.snapshot().provider,
        ...(report ? { shadow: report } : {}),
      };
    });
  }

  /** Back to the version before the current one. */
  rollback(why = 'rollback'): Promise<Record<string, unknown>> {
    const previous = this.previous;
    if (!previous) {
      return Promise.reject(
        new AgentError(
          ErrorCodes.MODEL_DEPLOY,
          `model ${this.config.id}: no previous version to roll back to`,
        ),
      );
    }
    return this.promote(previous, why);
  }

  private observe(outcome: Outcome): void {
    const reason = this.watch.record(outcome, this.deps.clock.now());
    if (!reason || this.stopped) return;
    const bad = this.activeVersion;
    this.deps.log.error({ version: bad, reason }, 'automatic rollback');
    this.deps.alerts?.raise({
      code: 'MODEL_AUTO_ROLLBACK',
      severity: 'critical',
      modelId: this.config.id,
      message: `model ${this.config.id}: version ${bad} rolled back to ${this.previous}: ${reason}`,
      active: true,
    });
    this.rollback('auto-rollback').catch((err: unknown) =>
      this.deps.log.error({ err }, 'automatic rollback failed'),
    );
  }

  /** `eva_model_active_info`: exactly one series per model, the active version on its provider. */
  private publishActive(): void {
    const s = this.active?.snapshot();
    if (!s) return;
    const { version, state, provider } = s;
    this.deps.events?.emit('ModelChanged', { modelId: this.config.id, version, state, provider });
    const m = this.deps.metrics;
    if (!m) return;
    if (this.activeLabels) m.active.remove(this.activeLabels);
    this.activeLabels = { model: this.config.id, version: s.version ?? '?', provider: s.provider ?? 'none' };
    m.active.set(this.activeLabels, 1);
  }

  private providerFallback(e: ProviderFallback): void {
    this.deps.metrics?.fallbacks.inc({ model: e.model, from: e.from, to: e.to });
    if (this.active?.version === e.version) this.publishActive();
    this.deps.alerts?.raise({
      code: 'MODEL_PROVIDER_FALLBACK',
      severity: 'warning',
      modelId: e.model,
      message: `model ${e.model} version ${e.version}: provider ${e.from} failed at run time (${e.reason}); now on ${e.to}`,
      active: true,
    });
  }

  /** Install, promote and rollback one at a time per model. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    // refused once stopping, also when queued before stop() and reached after it
    const run = () =>
      this.stopped
        ? Promise.reject(
            new AgentError(ErrorCodes.MODEL_DEPLOY, `model ${this.config.id}: the agent is stopping`),
          )
        : work();
    const next = this.busy.then(run, run);
    this.busy = next.catch(() => undefined);
    return next;
  }
}
