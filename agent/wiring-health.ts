import type { Camera } from './capture/index.js';
import type { Decision } from './decision/index.js';
import {
  type DriftStatus,
  type HistoryPoint,
  LineStats,
  Problems,
  StatusHistory,
  StatusService,
  SystemMonitor,
} from './health/index.js';
import type { RouteSet } from './http/index.js';
import type { ModelDeployment } from './models/index.js';
import type { OpcUaStatus } from './opcua/index.js';
import { defaultWebDir, JudgedFrames, LiveEvents, PageAssets, pageRoutes, Snapshots } from './page/index.js';
import type { PlcStatus } from './plc/index.js';
import type { RecipeStatus } from './recipes/index.js';
import type { AuditQuery, Storage } from './store/index.js';
import type { MqttLink, OutboxPublisher, SparkplugStatus } from './sync/index.js';
import type { Kernel } from './wiring.js';

/**
 * What the agent says about itself and the technician page (part of the composition root): the system
 * monitor, the line's counts, the problems list, the status and its history, and the page's live updates,
 * judged frames and snapshots. Only builds; the services are handed to the lifecycle by app.ts.
 */
export function buildMonitoring(
  k: Kernel,
  parts: {
    cameras: ReadonlyMap<string, Camera<Decision>>;
    models: ReadonlyMap<string, ModelDeployment>;
    storage: Storage;
    auditQuery: AuditQuery;
    link: MqttLink;
    publishers: readonly OutboxPublisher[];
    sparkplug: { snapshot(): SparkplugStatus } | undefined;
    plcs: ReadonlyMap<string, { snapshot(): PlcStatus }>;
    /** Drift monitoring, when configured: `drift` in `/api/status`. */
    drift?: { snapshot(): DriftStatus } | undefined;
    /** Recipes and the OPC UA server, when configured: `recipes` and `opcua` in `/api/status`. */
    recipes?: { snapshot(): RecipeStatus } | undefined;
    opcua?: { snapshot(): OpcUaStatus } | undefined;
  },
) {
  const { config, clock, events, log, metrics, alerts } = k;
  const child = (module: string) => log.child({ module });
  const { cameras, models, storage } = parts;
  const monitor = new SystemMonitor(config.store.path, child('system'), clock);
  const lineStats = new LineStats({
    clock,
    events,
    log: child('status'),
    deadlines: new Map(config.cameras.map((c) => [c.id, c.deadlineMs])),
    seed: (since) => ({
      counts: parts.auditQuery.countsSince(since),
      last: config.cameras.flatMap((c) => parts.auditQuery.page({ camera: c.id, limit: 1 }).decisions),
    }),
  });
  const problems = new Problems({ clock, events });
  // the history samples the status (at start, then every step), which carries the history: the closure
  // is only called once both exist
  const history: StatusHistory = new StatusHistory({
    clock,
    events,
    log: child('status'),
    sample: (since): HistoryPoint => health.sample(since),
  });
  const health: StatusService = new StatusService({
    ...{ agentId: config.agent.id, clock, metrics, cameras, models, storage, link: parts.link },
    ...{ publishers: parts.publishers, sparkplug: parts.sparkplug, plcs: parts.plcs, alerts },
    ...{ system: monitor, activity: lineStats, problems, history, drift: parts.drift },
    ...{ recipes: parts.recipes, opcua: parts.opcua },
  });

  const live = new LiveEvents({
    clock,
    events,
    log: child('page'),
    status: () => health.status({ history: false }),
  });
  const judged = new JudgedFrames([...cameras.keys()], { clock, events, log: child('page') });
  const routes: RouteSet = pageRoutes({
    assets: new PageAssets(defaultWebDir()),
    live,
    judged,
    snapshots: new Snapshots(cameras, { clock, log: child('page') }),
    clock,
    log: child('page'),
  });
  return { health, monitor, lineStats, problems, history, live, judged, routes };
}
