import type { Alert } from '../alerts.js';
import type { CameraStatus } from '../capture/index.js';
import type { AgentMetrics } from '../metrics.js';
import type { DeploymentStatus } from '../models/index.js';
import type { OpcUaStatus } from '../opcua/index.js';
import type { PlcStatus } from '../plc/index.js';
import type { RecipeStatus } from '../recipes/index.js';
import type { Clock } from '../service.js';
import type { Storage } from '../store/index.js';
import type { LinkStatus, SparkplugStatus } from '../sync/index.js';
import { AGENT_VERSION } from '../version.js';
import type { CameraActivity, LineStats } from './line-stats.js';
import type { Problem, Problems } from './problems.js';
import type { HistoryPoint, StatusHistory } from './status-history.js';
import type { SystemSnapshot } from './system-monitor.js';

/** `/readyz`: ready, or the reasons why not. */
export interface Readiness {
  ready: boolean;
  reasons: string[];
}

/** What the status is read from: each part reports on itself through its own typed `snapshot()`. */
export interface StatusSources {
  agentId: string;
  clock: Clock;
  metrics: AgentMetrics;
  cameras: ReadonlyMap<string, { snapshot(): CameraStatus }>;
  models: ReadonlyMap<
    string,
    { readonly state: string; snapshot(): DeploymentStatus; refreshMetrics?(): void }
  >;
  storage: Storage;
  link: { snapshot(): LinkStatus; readonly topicRoot: string };
  publishers: Iterable<{ readonly inFlight: number }>;
  sparkplug: { snapshot(): SparkplugStatus } | undefined;
  /** PLCs by the id of the camera they serve. */
  plcs: ReadonlyMap<string, { snapshot(): PlcStatus }>;
  alerts: { active(): Alert[] };
  system: { snapshot(): SystemSnapshot };
  /** Counts, NG rate, latency and the last verdict per camera. */
  activity: Pick<LineStats, 'snapshot' | 'latencySince'>;
  /** The problems list (with its start-up grace). */
  problems: Pick<Problems, 'list'>;
  /** The last 20 minutes, for the charts; absent = no `history` block. */
  history?: Pick<StatusHistory, 'snapshot'>;
  /** Drift monitoring, when configured (docs/drift.md). */
  drift?: { snapshot(): DriftStatus } | undefined;
  /** Recipes, when configured (docs/recipes.md). */
  recipes?: { snapshot(): RecipeStatus } | undefined;
  /** The OPC UA server, when enabled (docs/opcua.md). */
  opcua?: { snapshot(): OpcUaStatus } | undefined;
}

/** What `drift` in `/api/status` holds (drift's DriftMonitor.snapshot), as much of it as status reads. */
export interface DriftStatus {
  cameras: {
    cameraId: string;
    status: string;
    model: { id: string; version: string } | null;
    baseline: { id: string } | null;
    collecting: { target: number; collected: number } | null;
  }[];
}

/** A camera in `/api/status`: its own snapshot and what its line did lately (line-stats.ts). */
export type CameraEntry = CameraStatus & Partial<Omit<CameraActivity, 'totals'>>;

/**
 * `/api/status` (also `R/health`), `/readyz`, the problems list and the gauges `/metrics` reads on demand:
 * assembled from what each service reports about itself, never from their internals.
 */
export class StatusService {
  private readonly startedAt: number;
  private readonly lastTotals = new Map<string, CameraActivity['totals']>();

  constructor(private readonly sources: StatusSources) {
    this.startedAt = sources.clock.now();
  }

  /** `/api/status`; `history: false` leaves out the charts' history (the page's live updates carry it apart). */
  status(opts: { history?: boolean } = {}) {
    const s = this.sources;
    const store = s.storage.store;
    const stats = store.stats();
    const cameras = this.cameraEntries();
    const models = [...s.models.values()].map((m) => m.snapshot());
    const link = s.link.snapshot();
    const storage = s.storage.snapshot();
    const system = s.system.snapshot();
    const alerts = s.alerts.active();
    const drift = s.drift?.snapshot();
    return {
      agent: {
        id: s.agentId,
        version: AGENT_VERSION,
        startedAt: this.startedAt,
        uptimeS: Math.round((s.clock.now() - this.startedAt) / 1000),
        pid: process.pid,
      },
      cameras,
      models,
      store: {
        path: store.path,
        backlog: stats.backlog,
        lastSeq: stats.lastSeq,
        bytes: stats.bytes,
        ...storage,
      },
      mqtt: {
        ...link,
        topicRoot: s.link.topicRoot,
        inFlight: [...s.publishers].reduce((n, p) => n + p.inFlight, 0),
      },
      sparkplug: s.sparkplug?.snapshot() ?? null,
      plc: [...s.plcs].map(([camera, plc]) => ({ camera, ...plc.snapshot() })),
      recipes: s.recipes?.snapshot() ?? null,
      opcua: s.opcua?.snapshot() ?? null,
      alerts,
      drift: drift ?? null,
      system,
      problems: s.problems.list({
        cameras,
        models,
        link,
        backlog: stats.backlog,
        disk: {
          full: s.storage.budget.isFull,
          usedBytes: storage.disk.totalBytes,
          budgetBytes: storage.disk.budgetBytes,
        },
        store: s.storage.health.problems(),
        extra: driftProblems(drift),
        system,
        alerts,
      }),
      ...(s.history && opts.history !== false ? { history: s.history.snapshot() } : {}),
    };
  }

  /** One step of the history (status-history.ts): the cheap figures of `status()`, per step. */
  sample(since: number | null): HistoryPoint {
    const s = this.sources;
    const now = s.clock.now();
    const system = s.system.snapshot();
    const disk = s.storage.budget.usage();
    const cameras: HistoryPoint['cameras'] = {};
    for (const camera of s.cameras.values()) {
      const c = camera.snapshot();
      const totals = s.activity.snapshot(c.id)?.totals;
      const before = this.lastTotals.get(c.id);
      const latency = s.activity.latencySince(c.id, since ?? now - HISTORY_FIRST_STEP_MS);
      const all = (v?: CameraActivity['totals']) => (v ? v.OK + v.NG + v.UNCERTAIN + v.ERROR : 0);
      cameras[c.id] = {
        fps: c.fps,
        latencyP50Ms: latency.p50,
        latencyP99Ms: latency.p99,
        decisions: before ? all(totals) - all(before) : 0,
        ng: before && totals ? totals.NG - before.NG : 0,
      };
      if (totals) this.lastTotals.set(c.id, totals);
    }
    return {
      t: now,
      agent: {
        backlog: s.storage.store.stats().backlog,
        cpuPercent: system.cpu.loadPercent,
        memoryUsedBytes: system.memory.usedBytes,
        processRssBytes: system.memory.processRssBytes,
        diskUsedBytes: disk.totalBytes,
        temperatureC: system.temperature.cpuC,
      },
      cameras,
    };
  }

  private cameraEntries(): CameraEntry[] {
    return [...this.sources.cameras.values()].map((camera) => {
      const c = camera.snapshot();
      const a = this.sources.activity.snapshot(c.id);
      if (!a) return c;
      const { totals: _totals, ...activity } = a;
      return { ...c, ...activity };
    });
  }

  /** Ready when every enabled camera's model is loaded and the store takes a write. */
  readiness(): Readiness {
    const reasons: string[] = [];
    const models = this.sources.models;
    for (const camera of this.sources.cameras.values()) {
      const c = camera.snapshot();
      if (!c.enabled) continue;
      const model = models.get(c.model);
      if (model?.state !== 'ready')
        reasons.push(`camera ${c.id}: model ${c.model} is ${model?.state ?? 'missing'}`);
    }
    const store = this.sources.storage;
    const storeReasons = store.health.reasons();
    reasons.push(...storeReasons);
    if (storeReasons.length === 0 && !store.store.writable()) reasons.push('store is not writable');
    return { ready: reasons.length === 0, reasons };
  }

  /** The Prometheus text, with the gauges that are read on demand brought up to date first. */
  async metrics(): Promise<{ contentType: string; body: string }> {
    const { metrics, storage } = this.sources;
    metrics.backlog.set(storage.store.stats().backlog);
    const usage = storage.budget.usage(); // sets eva_store_disk_bytes
    metrics.diskBudget.set(usage.budgetBytes);
    for (const camera of this.sources.cameras.values()) {
      const c = camera.snapshot();
      const labels = { camera: c.id };
      const running = c.enabled && c.state === 'running' && c.connection?.state !== 'down';
      metrics.cameraUp.set(labels, running ? 1 : 0);
      metrics.cameraEnabled.set(labels, c.enabled ? 1 : 0);
      if (c.lastFrameAgeMs === null) metrics.cameraLastFrameAge.remove(labels);
      else metrics.cameraLastFrameAge.set(labels, c.lastFrameAgeMs / 1000);
    }
    for (const m of this.sources.models.values()) m.refreshMetrics?.(); // per-version accuracy gauges
    // alerts come and go: the series of one that cleared must go too, not stay at its last value
    metrics.alertActive.reset();
    for (const a of this.sources.alerts.active()) {
      metrics.alertActive.set(
        { code: a.code, severity: a.severity, camera: a.cameraId ?? '', model: a.modelId ?? '' },
        1,
      );
    }
    return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
  }
}

/** The first history point's latency covers this much before it (there is no previous point). */
const HISTORY_FIRST_STEP_MS = 10_000;

/** Drift that cannot be judged at all (its alerts are in `alerts`): a camera whose model has no baseline. */
function driftProblems(drift: DriftStatus | undefined): Omit<Problem, 'since'>[] {
  return (drift?.cameras ?? [])
    .filter((c) => c.status === 'no-baseline' && c.model && !c.collecting)
    .map((c) => ({
      code: 'DRIFT_NO_BASELINE',
      severity: 'warning' as const,
      cameraId: c.cameraId,
      message: `no drift baseline for camera ${c.cameraId} with model ${c.model?.id} version ${c.model?.version}: build one (edge-agent baseline build, or the drift/baseline request)`,
    }));
}
