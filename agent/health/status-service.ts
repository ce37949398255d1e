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
import type { SystemSnapshot } from './system-monitor.js';

/** `/readyz`: ready, or the reasons why not. */
export interface Readiness {
  ready: boolean;
  reasons: string[];
}

/** One entry of `problems[]` in `/api/status`: what needs a person, now. */
export interface Problem {
  code: string;
  severity: 'warning' | 'critical';
  message: string;
  cameraId?: string;
  modelId?: string;
}

/** A backlog above this many decisions is listed as a problem (the broker has been away a while). */
export const BACKLOG_WARNING = 1_000;

/** What the status is read from: each part reports on itself through its own typed `snapshot()`. */
export interface StatusSources {
  agentId: string;
  clock: Clock;
  metrics: AgentMetrics;
  cameras: ReadonlyMap<string, { snapshot(): CameraStatus }>;
  models: ReadonlyMap<string, { readonly state: string; snapshot(): DeploymentStatus }>;
  storage: Storage;
  link: { snapshot(): LinkStatus; readonly topicRoot: string };
  publishers: Iterable<{ readonly inFlight: number }>;
  sparkplug: { snapshot(): SparkplugStatus } | undefined;
  /** PLCs by the id of the camera they serve. */
  plcs: ReadonlyMap<string, { snapshot(): PlcStatus }>;
  alerts: { active(): Alert[] };
  system: { snapshot(): SystemSnapshot };
  /** Recipes, when configured (docs/recipes.md). */
  recipes?: { snapshot(): RecipeStatus } | undefined;
  /** The OPC UA server, when enabled (docs/opcua.md). */
  opcua?: { snapshot(): OpcUaStatus } | undefined;
}

/**
 * `/api/status` (also `R/health`), `/readyz`, the problems list and the gauges `/metrics` reads on demand:
 * assembled from what each service reports about itself, never from their internals.
 */
export class StatusService {
  private readonly startedAt: number;

  constructor(private readonly sources: StatusSources) {
    this.startedAt = sources.clock.now();
  }

  status() {
    const s = this.sources;
    const store = s.storage.store;
    const stats = store.stats();
    const cameras = [...s.cameras.values()].map((c) => c.snapshot());
    const models = [...s.models.values()].map((m) => m.snapshot());
    const link = s.link.snapshot();
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
        ...s.storage.snapshot(),
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
      alerts: s.alerts.active(),
      system: s.system.snapshot(),
      problems: this.problems({ cameras, models, link, backlog: stats.backlog }),
    };
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
    if (!this.sources.storage.store.writable()) reasons.push('store is not writable');
    return { ready: reasons.length === 0, reasons };
  }

  /** The Prometheus text, with the gauges that are read on demand brought up to date first. */
  async metrics(): Promise<{ contentType: string; body: string }> {
    const { metrics, storage } = this.sources;
    const stats = storage.store.stats();
    metrics.backlog.set(stats.backlog);
    metrics.storeBytes.set(stats.bytes);
    storage.budget.usage(); // sets eva_store_disk_bytes
    return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
  }

  private problems(now: {
    cameras: CameraStatus[];
    models: DeploymentStatus[];
    link: LinkStatus;
    backlog: number;
  }): Problem[] {
    const out: Problem[] = [];
    for (const m of now.models) {
      if (m.state === 'failed') {
        out.push({
          code: 'MODEL_FAILED',
          severity: 'critical',
          modelId: m.id,
          message: m.error ?? 'model failed',
        });
      }
    }
    for (const c of now.cameras) {
      if (c.state === 'waiting-for-model') {
        out.push({
          code: 'CAMERA_WAITING',
          severity: 'critical',
          cameraId: c.id,
          message: `waiting for model ${c.model}`,
        });
      }
    }
    if (!now.link.connected) {
      const why = now.link.lastError ? `: ${now.link.lastError}` : '';
      out.push({
        code: 'MQTT_DOWN',
        severity: 'warning',
        message: `not connected to ${now.link.url}${why}; decisions are buffered`,
      });
    }
    if (this.sources.storage.budget.isFull) {
      out.push({
        code: 'DISK_FULL',
        severity: 'critical',
        message:
          'store.maxDiskMB reached with only undelivered decisions left: verdicts are recorded, images are not',
      });
    }
    if (now.backlog > BACKLOG_WARNING) {
      out.push({
        code: 'BACKLOG',
        severity: 'warning',
        message: `${now.backlog} decisions waiting to be delivered`,
      });
    }
    return out;
  }
}
