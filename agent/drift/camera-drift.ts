import type { Logger } from 'pino';
import type { AlertSink } from '../alerts.js';
import type { DriftConfig } from '../config/index.js';
import type { Decision } from '../decision/index.js';
import { describeError } from '../errors.js';
import type { ImageStats, Inference } from '../inference/index.js';
import type { Clock, TimerHandle } from '../service.js';
import { type AlertMemory, CameraAlerts } from './alerting.js';
import { type Baseline, type BaselineModel, buildBaseline } from './baseline.js';
import type { DriftStore } from './drift-store.js';
import { type ChartMemory, freshCharts } from './evaluate.js';
import { type FrameFeatures, featuresOf } from './features.js';
import { unfitReason } from './fitness.js';
import { median } from './math.js';
import type { DriftMetrics } from './metrics.js';
import { OutcomeBook } from './outcomes.js';
import type { DriftReport } from './report.js';
import { judgeWindow } from './report-builder.js';
import { WindowAccumulator } from './window.js';

/** Window lengths remembered for the measured window rate (the median of the latest). */
const DURATIONS_KEPT = 8;

export interface CameraDriftDeps {
  cameraId: string;
  agentId: string;
  config: DriftConfig;
  clock: Clock;
  log: Logger;
  alerts: AlertSink;
  store: DriftStore;
  metrics: DriftMetrics;
  /** Hands a finished report on (the monitor tells `DriftReported`). */
  report: (report: DriftReport) => void;
}

interface Collection {
  target: number;
  frames: FrameFeatures[];
  model: BaselineModel | null;
  requestedAt: number;
  firstAt: number | null;
  lastAt: number | null;
}

/** What drift_state keeps per camera, so slow drift and active alerts are followed across restarts. */
interface SavedState {
  format: 1;
  sha256: string | null;
  baselineId: string | null;
  nextIndex: number;
  charts: ChartMemory;
  alerts: AlertMemory;
  durations: number[];
  outcomes: unknown;
}

/**
 * One camera's drift: the open window, the baseline of the model that judges it (by sha256), the charts,
 * the alerts and a live baseline collection when one was asked for. Fed by the monitor with each stored
 * decision (cheap: a feature vector counted into fixed bins) and each outcome; a closed window is judged
 * on the next turn of the event loop, off the decision path.
 */
export class CameraDrift {
  readonly alerts: CameraAlerts;
  private baseline: Baseline | null = null;
  private model: BaselineModel | null = null;
  private window: WindowAccumulator | null = null;
  private openedAt = 0;
  private timer: TimerHandle | undefined;
  private charts: ChartMemory = freshCharts();
  private durations: number[] = [];
  private outcomes = new OutcomeBook();
  private nextIndex = 0;
  private collecting: Collection | null = null;
  private building: Promise<void> | undefined;
  private lastReport: DriftReport | null = null;
  private lastError: string | null = null;
  /** The gate's baseline while no decision of the model has been stored yet (see `unfit`). */
  private gateBaseline: { sha: string; baseline: Baseline | null } | undefined;
  private readonly id: string;

  constructor(private readonly deps: CameraDriftDeps) {
    this.id = deps.cameraId;
    this.alerts = new CameraAlerts(deps.cameraId, deps.alerts);
  }

  /** Picks up the saved state and latest report (after a restart); restates alerts that were active. */
  restore(): void {
    const saved = this.deps.store.loadState(this.id) as SavedState | undefined;
    this.lastReport = this.deps.store.latestReport(this.id) ?? null;
    this.nextIndex = this.lastReport ? this.lastReport.window.index + 1 : 0;
    if (saved?.format !== 1) return;
    this.nextIndex = Math.max(this.nextIndex, saved.nextIndex);
    this.durations = saved.durations.slice(-DURATIONS_KEPT);
    this.outcomes = OutcomeBook.from(saved.outcomes);
    Object.assign(this.alerts.memory, saved.alerts);
    if (saved.sha256 && this.lastReport?.model.sha256 === saved.sha256) {
      this.model = this.lastReport.model;
      this.baseline = this.deps.store.latestBaseline(this.id, saved.sha256) ?? null;
      if (this.baseline && this.baseline.id === saved.baselineId) this.charts = saved.charts;
    }
    this.alerts.restate();
  }

  /** Every stored decision of this camera; `imageStats` when the model judged a frame. */
  onDecision(decision: Decision, imageStats: ImageStats | undefined): void {
    const features = featuresOf(decision, imageStats);
    if (!features || !decision.model) return;
    const at = this.deps.clock.now();
    if (decision.model.sha256 !== this.model?.sha256) this.switchModel(decision.model);
    const unfit = imageStats && this.baseline ? unfitReason(imageStats, this.baseline) : undefined;
    if (this.baseline && imageStats) {
      this.alerts.frame(unfit);
      if (unfit) this.deps.metrics.unfitFrames.inc({ camera: this.id });
    }
    this.collect(features, at);
    if (!this.window) {
      this.window = new WindowAccumulator(this.nextIndex++, this.baseline);
      this.openedAt = at;
      this.timer = this.deps.clock.setTimeout(() => this.close(), this.deps.config.maxWindowSeconds * 1000);
    }
    this.window.add(features, decision.decidedAt, unfit !== undefined);
    if (this.window.count >= this.deps.config.window) this.close();
  }

  /**
   * For the gate (drift.gate): why this frame is unfit to judge, against the baseline of the model that
   * judged it, and never another's. The first frame of a model not seen yet looks its baseline up (one
   * indexed query per model change), so the very first frames after a start are gated too.
   */
  unfit(inference: Inference): string | undefined {
    if (!inference.imageStats) return undefined;
    const sha = inference.model.sha256;
    let b = this.baseline?.model.sha256 === sha ? this.baseline : undefined;
    if (!b) {
      if (this.gateBaseline?.sha !== sha) {
        this.gateBaseline = { sha, baseline: this.deps.store.latestBaseline(this.id, sha) ?? null };
      }
      b = this.gateBaseline.baseline ?? undefined;
    }
    return b ? unfitReason(inference.imageStats, b) : undefined;
  }

  onOutcome(verdict: 'OK' | 'NG' | 'UNCERTAIN' | 'ERROR', actual: 'OK' | 'NG'): void {
    this.outcomes.add(verdict, actual);
  }

  /** A model's active version changed: its decisions will be judged against its own baseline (or none). */
  onModelChanged(version: string | null): void {
    if (!this.model || version === null || version === this.model.version) return;
    this.alerts.clearAll(
      `model changed to version ${version}: camera ${this.id} is judged against that model's own baseline`,
    );
  }

  /** Starts collecting the next `decisions` decisions for a live baseline (a new request restarts it). */
  requestBaseline(decisions: number): {
    camera: string;
    decisions: number;
    status: 'collecting';
    requestedAt: number;
  } {
    const requestedAt = this.deps.clock.now();
    if (this.collecting)
      this.deps.log.warn(
        { collected: this.collecting.frames.length },
        'baseline collection restarted by a new request',
      );
    this.collecting = {
      target: decisions,
      frames: [],
      model: null,
      requestedAt,
      firstAt: null,
      lastAt: null,
    };
    this.deps.log.info({ decisions }, 'collecting a drift baseline from live decisions');
    return { camera: this.id, decisions, status: 'collecting', requestedAt };
  }

  /** Re-reads the newest baseline of the current model (one built by `edge-agent baseline build` meanwhile). */
  refreshBaseline(): void {
    if (!this.model) return;
    try {
      const id = this.deps.store.latestBaselineId(this.id, this.model.sha256);
      if (id === undefined || id === this.baseline?.id) return;
      const b = this.deps.store.latestBaseline(this.id, this.model.sha256);
      if (b) this.apply(b, 'a new baseline was built');
    } catch (err) {
      this.deps.log.error({ err }, 'cannot read drift baselines');
    }
  }

  /** The latest report again (drift.schedule): retained topics are refreshed for late subscribers. */
  republish(): void {
    if (this.lastReport) this.deps.report(this.lastReport);
  }

  /** Closes the open window now (count reached, maxWindowSeconds passed, or the agent stopping). */
  close(): void {
    const w = this.window;
    if (!w) return;
    this.window = null;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const closedAt = this.deps.clock.now();
    const model = this.model as BaselineModel; // a window opens only on a decision with a model
    this.durations.push(Math.max(1, closedAt - this.openedAt));
    if (this.durations.length > DURATIONS_KEPT) this.durations.shift();
    // judged on the next turn: the decision that closed the window is not held up by it
    setImmediate(() => this.finish(w, closedAt, model));
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.building;
    this.save();
  }

  snapshot() {
    const b = this.baseline;
    return {
      cameraId: this.id,
      status: this.lastReport?.status ?? (b ? 'insufficient' : 'no-baseline'),
      model: this.model,
      baseline: b
        ? { id: b.id, builtAt: b.builtAt, frames: b.frames, source: b.source, window: b.window }
        : null,
      window: this.window
        ? { index: this.window.index, count: this.window.count, openedAt: this.openedAt }
        : null,
      lastReport: this.lastReport
        ? { index: this.lastReport.window.index, ts: this.lastReport.ts, status: this.lastReport.status }
        : null,
      alerts: this.alerts.active(),
      unfit: this.alerts.memory.unfit.active ? this.alerts.memory.unfit.reason : null,
      collecting: this.collecting
        ? {
            target: this.collecting.target,
            collected: this.collecting.frames.length,
            requestedAt: this.collecting.requestedAt,
          }
        : null,
      lastError: this.lastError,
    };
  }

  get latest(): DriftReport | null {
    return this.lastReport;
  }

  private switchModel(model: BaselineModel): void {
    const before = this.model;
    this.model = { id: model.id, version: model.version, sha256: model.sha256 };
    // a window of two models' decisions measures neither: the open one ends unjudged
    this.dropWindow();
    const b = this.deps.store.latestBaseline(this.id, model.sha256) ?? null;
    if (before) {
      this.deps.log.info(
        { from: before.version, to: model.version, baseline: b?.id ?? null },
        'drift follows a new model',
      );
      this.alerts.clearAll(
        `model changed to version ${model.version}: camera ${this.id} is judged against that model's own baseline`,
      );
    }
    this.baseline = b;
    this.charts = freshCharts();
  }

  private apply(b: Baseline, why: string): void {
    this.gateBaseline = undefined;
    this.deps.log.info(
      { baseline: b.id, frames: b.frames, source: b.source },
      `drift baseline in use: ${why}`,
    );
    this.dropWindow();
    this.baseline = b;
    this.charts = freshCharts();
    this.alerts.clearAll(
      `camera ${this.id} has a new drift baseline (${b.id}); drift is judged against it from now on`,
    );
    this.save();
  }

  private dropWindow(): void {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.window = null;
  }

  private collect(features: FrameFeatures, at: number): void {
    const c = this.collecting;
    if (!c || !this.model) return;
    if (c.model && c.model.sha256 !== this.model.sha256) {
      this.deps.log.warn({ collected: c.frames.length }, 'baseline collection restarted: the model changed');
      c.frames = [];
      c.firstAt = null;
    }
    c.model = this.model;
    c.frames.push(features);
    c.firstAt ??= at;
    c.lastAt = at;
    if (c.frames.length < c.target) return;
    this.collecting = null;
    const seconds = Math.max(0.001, ((c.lastAt ?? at) - (c.firstAt ?? at)) / 1000);
    const meta = {
      cameraId: this.id,
      model: c.model,
      builtAt: this.deps.clock.now(),
      source: 'live' as const,
      window: this.deps.config.window,
      rate: c.frames.length / seconds,
    };
    this.building = buildBaseline(c.frames, meta, () => new Promise((resolve) => setImmediate(resolve)))
      .then((b) => {
        this.deps.store.saveBaseline(b);
        if (this.model?.sha256 === b.model.sha256) this.apply(b, `built from ${b.frames} live decisions`);
      })
      .catch((err: unknown) => {
        this.lastError = `baseline not built: ${describeError(err)}`;
        this.deps.log.error({ err }, 'drift baseline could not be built');
      })
      .finally(() => {
        this.building = undefined;
      });
  }

  private finish(w: WindowAccumulator, closedAt: number, model: BaselineModel): void {
    try {
      const windowMs = median(this.durations);
      const { report } = judgeWindow({
        agentId: this.deps.agentId,
        cameraId: this.id,
        model,
        window: w,
        closedAt,
        windowMs,
        charts: this.charts,
        alerts: this.alerts,
        outcomes: this.outcomes,
        config: this.deps.config,
      });
      this.lastReport = report;
      this.deps.store.saveReport(report);
      this.save();
      this.deps.metrics.report(report);
      this.lastError = null;
      this.deps.report(report);
    } catch (err) {
      this.lastError = `window ${w.index} not judged: ${describeError(err)}`;
      this.deps.log.error({ err, window: w.index }, 'drift window could not be judged');
    }
  }

  private save(): void {
    const state: SavedState = {
      format: 1,
      sha256: this.model?.sha256 ?? null,
      baselineId: this.baseline?.id ?? null,
      nextIndex: this.nextIndex,
      charts: this.charts,
      alerts: this.alerts.memory,
      durations: this.durations,
      outcomes: this.outcomes.toJSON(),
    };
    try {
      this.deps.store.saveState(this.id, this.deps.clock.now(), state);
    } catch (err) {
      this.deps.log.error({ err }, 'drift state not saved');
    }
  }
}
