import cron from 'node-cron';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AlertSink } from '../alerts.js';
import type { DriftConfig } from '../config/index.js';
import type { FrameGate } from '../decision/index.js';
import { agentError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Inference } from '../inference/index.js';
import type { Clock, Service } from '../service.js';
import type { Connection } from '../store/index.js';
import { CameraDrift } from './camera-drift.js';
import { DriftStore } from './drift-store.js';
import { DriftMetrics } from './metrics.js';
import type { DriftReport } from './report.js';

declare module '../events.js' {
  interface AgentEvents {
    /** A drift window report is ready (at each window's end, and again on `drift.schedule`). */
    DriftReported: { report: DriftReport };
  }
}

/** What runs `drift.schedule`: node-cron in the agent; tests hand in their own. */
export interface Scheduler {
  schedule(expression: string, fn: () => void): { stop(): void };
}

export const cronScheduler: Scheduler = {
  schedule(expression, fn) {
    // unref: a republishing timer never keeps a stopping process alive
    const task = cron.schedule(expression, fn, { name: 'drift-republish', noOverlap: true, unref: true });
    return { stop: () => void task.destroy() };
  },
};

export interface DriftMonitorDeps {
  agentId: string;
  cameras: readonly { id: string; model: string }[];
  /** The store's connection: drift's tables live in the agent's database (migration 6). */
  store: Connection;
  clock: Clock;
  log: Logger;
  events: EventBus;
  alerts: AlertSink;
  registry: Registry;
  scheduler?: Scheduler;
}

/** History entries `/api/drift` returns per camera by default, and at most. */
export const HISTORY_DEFAULT = 50;
export const HISTORY_MAX = 500;

/**
 * Drift and quality monitoring (docs/drift.md): reads the decision path, never steers it. Listens to
 * `DecisionStored` (every judged frame, with its image statistics), `OutcomeRecorded` (the plant's ground
 * truth) and `ModelChanged` (a promoted model is judged against its own baseline); tells `DriftReported`
 * for each window report (sync publishes it). The one exception to "never steers", when `drift.gate` is
 * on, is the FrameGate each camera's inspector is given (`gate()`): a frame unfit to judge becomes a
 * degraded UNCERTAIN.
 */
export class DriftMonitor implements Service {
  readonly name = 'drift';
  private readonly store: DriftStore;
  private readonly metrics: DriftMetrics;
  private readonly cameras = new Map<string, CameraDrift>();
  private readonly modelOf = new Map<string, string>();
  private task: { stop(): void } | undefined;

  constructor(
    readonly config: DriftConfig,
    private readonly deps: DriftMonitorDeps,
  ) {
    this.store = new DriftStore(deps.store);
    this.metrics = new DriftMetrics(deps.registry);
    for (const c of deps.cameras) {
      this.modelOf.set(c.id, c.model);
      this.cameras.set(
        c.id,
        new CameraDrift({
          cameraId: c.id,
          agentId: deps.agentId,
          config,
          clock: deps.clock,
          log: deps.log.child({ camera: c.id }),
          alerts: deps.alerts,
          store: this.store,
          metrics: this.metrics,
          report: (report) => deps.events.emit('DriftReported', { report }),
        }),
      );
    }
  }

  async start(): Promise<void> {
    for (const c of this.cameras.values()) c.restore();
    const { events } = this.deps;
    events.on(
      'DecisionStored',
      ({ decision, imageStats }) => this.cameras.get(decision.cameraId)?.onDecision(decision, imageStats),
      this.name,
    );
    events.on(
      'OutcomeRecorded',
      ({ cameraId, verdict, actual }) => this.cameras.get(cameraId)?.onOutcome(verdict, actual),
      this.name,
    );
    events.on(
      'ModelChanged',
      ({ modelId, version }) => {
        for (const [camera, model] of this.modelOf) {
          if (model === modelId) this.cameras.get(camera)?.onModelChanged(version);
        }
      },
      this.name,
    );
    this.task = (this.deps.scheduler ?? cronScheduler).schedule(this.config.schedule, () => this.tick());
    this.deps.log.info(
      { cameras: this.cameras.size, window: this.config.window, gate: this.config.gate },
      'drift monitoring started',
    );
  }

  async stop(): Promise<void> {
    this.deps.events.removeListeners(this.name);
    this.task?.stop();
    this.task = undefined;
    await Promise.all([...this.cameras.values()].map((c) => c.stop()));
  }

  /** drift.schedule: the latest reports again, and a baseline built meanwhile by the CLI taken up. */
  tick(): void {
    for (const c of this.cameras.values()) {
      c.refreshBaseline();
      c.republish();
    }
  }

  /**
   * The gate the inspector of `cameraId` calls when `drift.gate` is on (undefined when it is off): the
   * reason a frame is unfit to judge, against the camera's baseline for the model that judged it.
   */
  gate(cameraId: string): FrameGate | undefined {
    const camera = this.cameras.get(cameraId);
    if (!this.config.gate || !camera) return undefined;
    return {
      unfit: (inference: Inference) => {
        const reason = camera.unfit(inference);
        if (reason) this.metrics.gated.inc({ camera: cameraId });
        return reason;
      },
    };
  }

  /** `drift/baseline` (MQTT and HTTP): build one from the next `decisions` live decisions. */
  requestBaseline(cameraId: string, decisions?: number) {
    const camera = this.cameras.get(cameraId);
    if (!camera) throw agentError('CAMERA_UNKNOWN', { camera: cameraId, known: [...this.cameras.keys()] });
    return camera.requestBaseline(decisions ?? this.config.baselineDecisions);
  }

  /** `drift` in `/api/status`: per camera its status, baseline, window and alerts. */
  snapshot() {
    return {
      window: this.config.window,
      gate: this.config.gate,
      falseAlarmEveryMs: this.config.falseAlarmEvery,
      accuracyFloor: this.config.accuracyFloor ?? null,
      cameras: [...this.cameras.values()].map((c) => c.snapshot()),
    };
  }

  /** `GET /api/drift`: per camera the latest report, a bounded history and the baselines kept. */
  api(query: { camera?: string | undefined; limit?: number | undefined }) {
    if (query.camera !== undefined && !this.cameras.has(query.camera)) {
      throw agentError('CAMERA_UNKNOWN', { camera: query.camera, known: [...this.cameras.keys()] });
    }
    const limit = Math.min(HISTORY_MAX, Math.max(1, query.limit ?? HISTORY_DEFAULT));
    const chosen = [...this.cameras.entries()].filter(
      ([id]) => query.camera === undefined || id === query.camera,
    );
    return {
      enabled: true,
      ...this.snapshot(),
      cameras: chosen.map(([id, c]) => ({
        ...c.snapshot(),
        latest: c.latest,
        history: this.store.history(id, limit),
        baselines: this.store.baselines(id),
      })),
    };
  }
}
