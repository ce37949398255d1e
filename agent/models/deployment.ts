import type { Logger } from 'pino';
import type { AlertSink } from '../alerts.js';
import type { Frame } from '../capture/index.js';
import type { ModelConfig } from '../config/index.js';
import type { Inferrer } from '../decision/index.js';
import type { EventBus } from '../events.js';
import {
  type Inference,
  loadingStatus,
  type ModelRef,
  type ProviderFallback,
  type WorkerFaults,
} from '../inference/index.js';
import type { Clock, Service } from '../service.js';
import { type DeploymentState, type DeploymentStatus, statusOf } from './deployment-status.js';
import { ModelFileWatch } from './file-watch.js';
import type { GroundTruth, VersionScores } from './ground-truth.js';
import { HealthWatch } from './health-watch.js';
import type { Judge } from './judge.js';
import { type Observation, refOf } from './lanes.js';
import type { DeploymentMetrics } from './metrics.js';
import type { ShadowStore } from './shadow.js';
import { type ChangeOptions, VersionChanges } from './version-changes.js';
import type { CanaryScope } from './versions.js';

declare module '../events.js' {
  interface AgentEvents {
    /** A model's active version or its state changed (loaded, failed, promoted, rolled back, fell back). */
    ModelChanged: { modelId: string; version: string | null; state: string; provider: string | null };
  }
}

export type { DeploymentState, DeploymentStatus } from './deployment-status.js';

export interface DeploymentDeps {
  log: Logger;
  clock: Clock;
  /** Folder of installed versions and active.json. */
  versionsDir: string;
  shadowStore?: ShadowStore | undefined;
  metrics?: DeploymentMetrics | undefined;
  /** MODEL_PROVIDER_FALLBACK, MODEL_AUTO_ROLLBACK, MODEL_START_FALLBACK are raised here. */
  alerts?: AlertSink;
  /** `ModelChanged` is told here; `DecisionStored` and `OutcomeRecorded` are listened to. */
  events?: EventBus;
  /** Plant outcomes per version (status, metrics, promotion gates); absent = not scored. */
  groundTruth?: GroundTruth | undefined;
  /** Tests only: fault injection per loaded model file. */
  faults?: (modelPath: string) => WorkerFaults | undefined;
}

/** Decisions of this model remembered for scoring outcomes against the version under watch. */
const RECENT_DECISIONS = 5_000;
/** Per-version scores are recomputed from the store at most this often (status is read every few s). */
const SCORES_TTL_MS = 10_000;

/**
 * One configured model across its versions: the active version judges the line; a candidate (shadow) runs
 * on the same frames after the active result, off the deadline path, and is only compared; a canary
 * judges some cameras (or a share of parts) for real; `promote` swaps between two frames (each frame holds
 * the runner it started with, so none sees half a swap); the retired version's workers are drained and
 * ended, which also returns the memory onnxruntime keeps per session. After a promotion a watch compares
 * the new version with the old one (errors, misses, throughput, latency, NG rate, outcomes) and rolls back
 * on a verdict against it; the watch and the record of versions survive a restart (rollout-book.ts).
 */
export class ModelDeployment implements Service {
  readonly name: string;
  private readonly watch: HealthWatch;
  private readonly changes: VersionChanges;
  /** The running version's file on disk (MODEL_FILE_CHANGED when it is not the one loaded). */
  private readonly fileWatch: ModelFileWatch;
  private stopped = false;
  private activeLabels: { model: string; version: string; provider: string } | undefined;
  private readonly recent = new Map<string, { version: string; verdict: string }>();
  private scoresCache: { at: number; scores: VersionScores } | undefined;

  constructor(
    private readonly config: ModelConfig,
    private readonly deps: DeploymentDeps,
  ) {
    this.name = `model:${config.id}`;
    this.watch = new HealthWatch(config.autoRollback);
    this.changes = new VersionChanges(config, {
      ...deps,
      watch: this.watch,
      publishActive: () => this.publishActive(),
      scores: () => this.scores(),
      onProviderFallback: (e) => this.providerFallback(e),
    });
    this.fileWatch = new ModelFileWatch({
      modelId: config.id,
      everyMs: config.fileCheckMs,
      clock: deps.clock,
      log: deps.log,
      alerts: deps.alerts,
    });
  }

  get id(): string {
    return this.config.id;
  }

  get state(): DeploymentState {
    if (this.changes.lanes.unloaded) return 'unloaded';
    return this.changes.lanes.active?.state ?? 'loading';
  }

  get labels(): readonly string[] {
    return this.changes.lanes.active?.labels ?? [];
  }

  get activeVersion(): string | null {
    return this.changes.lanes.active?.version ?? null;
  }

  snapshot(): DeploymentStatus {
    const { lanes, book } = this.changes;
    const base = lanes.active?.snapshot() ?? loadingStatus(this.config.id);
    return statusOf({
      file: this.fileWatch.snapshot(),
      base: lanes.unloaded ? { ...base, state: 'unloaded' as const } : base,
      lanes,
      book,
      installed: this.changes.versions.installed(),
      watch: this.watch,
      keepPreviousDays: this.config.keepPreviousDays,
      scores: this.scores(),
      startFallback: this.changes.startFallback,
    });
  }

  /** Sets the per-version accuracy gauges (`/metrics` asks before it renders). */
  refreshMetrics(): void {
    const m = this.deps.metrics;
    if (!m) return;
    const scores = this.scores();
    if (!scores) return;
    for (const [role, byVersion] of [
      ['active', scores.active],
      ['shadow', scores.shadow],
    ] as const) {
      for (const [version, s] of Object.entries(byVersion)) {
        const labels = { model: this.config.id, version, role };
        m.outcomes.set(labels, s.outcomes);
        if (s.accuracy !== null) m.accuracy.set(labels, s.accuracy);
        if (s.ngPrecision !== null) m.ngPrecision.set(labels, s.ngPrecision);
        if (s.ngRecall !== null) m.ngRecall.set(labels, s.ngRecall);
      }
    }
  }

  /** Loads the recorded active version (else the configured one, with an alert); never throws. */
  async start(signal?: AbortSignal): Promise<void> {
    this.listen();
    await this.changes.start(signal);
    if (!this.stopped) this.fileWatch.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.fileWatch.stop();
    this.deps.events?.removeListeners(this.name);
    await this.changes.stop();
  }

  /** Recipes (docs/recipes.md): frees the workers while no active recipe uses this model; parts on it finish first. */
  async unload(): Promise<void> {
    await this.changes.unload();
    if (this.activeLabels) this.deps.metrics?.active.remove(this.activeLabels);
    this.activeLabels = undefined;
    const change = { modelId: this.config.id, version: null, state: 'unloaded', provider: null };
    this.deps.events?.emit('ModelChanged', change);
  }

  /** Recipes: loads the model again after `unload()`, as at start (the recorded active version). */
  load(signal?: AbortSignal): Promise<void> {
    return this.changes.load(signal);
  }

  /** The model as one camera sees it: its results feed the shadow comparison under that camera's rules. */
  forCamera(cameraId: string, judge?: Judge): Inferrer {
    const deployment = this;
    return {
      get labels() {
        return deployment.labels;
      },
      infer: (frame, signal, took) => deployment.infer(frame, signal, cameraId, judge, took),
      current: () => deployment.current(cameraId),
    };
  }

  /** The version a frame from this camera would go to now; before any loads, the configured one. */
  current(cameraId = ''): ModelRef | null {
    const { runner } = this.changes.lanes.pick(cameraId, false);
    if (runner?.version) return refOf(runner);
    const version = this.changes.configuredVersion;
    return version ? { id: this.config.id, version, sha256: '', provider: 'none' } : null;
  }

  infer(
    frame: Frame,
    signal?: AbortSignal,
    cameraId = '',
    judge?: Judge,
    took?: (model: ModelRef) => void,
  ): Promise<Inference> {
    return this.changes.lanes.infer(frame, {
      signal,
      cameraId,
      judge,
      took,
      observe: (o) => this.observe(o),
    });
  }

  /** A trigger of `cameraId` skipped because the camera was still busy: the throughput the watch compares. */
  frameSkipped(cameraId: string): void {
    const watched = this.changes.lanes.canary ? this.changes.lanes.skipIsCanary(cameraId) : true;
    this.judged(this.watch.skipped(this.deps.clock.now(), watched));
  }

  install(
    sourceDir: string,
    opts: ChangeOptions = {},
  ): Promise<{ model: string; version: string; sha256: string; provider: string | null }> {
    return this.changes.install(sourceDir, opts);
  }

  /** Makes `version` the active one between two frames (or a canary, with `canary`); gates unless `force`. */
  promote(
    version: string,
    opts: ChangeOptions & { canary?: CanaryScope | undefined } = {},
  ): Promise<Record<string, unknown>> {
    return this.changes.promote(version, 'promote', opts);
  }

  /** Back to the version before the current one (or ends a canary). */
  rollback(opts: ChangeOptions = {}): Promise<Record<string, unknown>> {
    return this.changes.rollback(opts);
  }

  /** Removes an installed version that is neither active, shadow, canary nor the kept fallback. */
  delete(version: string, opts: ChangeOptions = {}): Promise<Record<string, unknown>> {
    return this.changes.delete(version, opts);
  }

  private observe(o: Observation): void {
    const { lanes } = this.changes;
    // a frame of a version retired meanwhile says nothing about the one judging now
    if (o.runner !== lanes.active && o.runner !== lanes.canary?.runner) return;
    this.judged(
      this.watch.record(o.outcome, this.deps.clock.now(), o.sample, lanes.canary ? o.canary : true),
    );
  }

  private judged(reason: string | undefined): void {
    const ended = this.watch.takeEnded();
    if (ended) this.changes.watchEnded(ended);
    if (!reason || this.stopped) return;
    this.changes
      .autoRollback(reason)
      .catch((err: unknown) => this.deps.log.error({ err }, 'automatic rollback failed'));
  }

  /**
   * Decisions of this model are remembered (id -> version, verdict) so a plant outcome can be scored
   * against the version under watch; listeners are cheap (a map write).
   */
  private listen(): void {
    const events = this.deps.events;
    if (!events) return;
    events.on(
      'DecisionStored',
      ({ decision }) => {
        if (decision.model?.id !== this.config.id || !this.watch.active) return;
        this.recent.set(decision.id, { version: decision.model.version, verdict: decision.verdict });
        if (this.recent.size > RECENT_DECISIONS) {
          const oldest = this.recent.keys().next().value;
          if (oldest !== undefined) this.recent.delete(oldest);
        }
      },
      this.name,
    );
    events.on(
      'OutcomeRecorded',
      ({ decisionId, actual }) => {
        this.scoresCache = undefined; // any outcome may change a version's score
        const d = this.recent.get(decisionId);
        if (!d || d.version !== this.watch.version) return;
        this.judged(this.watch.scored(d.verdict === actual, this.deps.clock.now()));
      },
      this.name,
    );
  }

  private scores(): VersionScores | undefined {
    const gt = this.deps.groundTruth;
    if (!gt) return undefined;
    const now = this.deps.clock.now();
    if (this.scoresCache && now - this.scoresCache.at < SCORES_TTL_MS) return this.scoresCache.scores;
    try {
      const scores = gt.scores(this.config.id);
      this.scoresCache = { at: now, scores };
      return scores;
    } catch (err) {
      this.deps.log.warn({ err }, 'per-version scores could not be read');
      return undefined;
    }
  }

  /** `eva_model_active_info`: exactly one series per model, the active version on its provider. */
  private publishActive(): void {
    const s = this.changes.lanes.active?.snapshot();
    if (!s) return;
    this.fileWatch.follow(this.changes.lanes.active?.manifest?.modelPath, s.sha256);
    const { version, state, provider } = s;
    this.scoresCache = undefined;
    this.deps.events?.emit('ModelChanged', { modelId: this.config.id, version, state, provider });
    const m = this.deps.metrics;
    if (!m) return;
    if (this.activeLabels) m.active.remove(this.activeLabels);
    this.activeLabels = { model: this.config.id, version: s.version ?? '?', provider: s.provider ?? 'none' };
    m.active.set(this.activeLabels, 1);
  }

  private providerFallback(e: ProviderFallback): void {
    this.deps.metrics?.fallbacks.inc({ model: e.model, from: e.from, to: e.to });
    if (this.activeVersion === e.version) this.publishActive();
    this.deps.alerts?.raise({
      code: 'MODEL_PROVIDER_FALLBACK',
      severity: 'warning',
      modelId: e.model,
      message: `model ${e.model} version ${e.version}: provider ${e.from} failed at run time (${e.reason}); now on ${e.to}`,
      active: true,
    });
  }
}
