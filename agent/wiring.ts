import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Alerts } from './alerts.js';
import { Camera, connectionReporter, createSource, LookAhead } from './capture/index.js';
import type { AgentConfig, CameraConfig } from './config/index.js';
import { type Decision, type FrameGate, Inspector } from './decision/index.js';
import type { EventBus } from './events.js';
import type { StatusService } from './health/index.js';
import { buildHttpApp, type DatasetDeps, HttpServer, type RouteSet } from './http/index.js';
import type { AgentMetrics } from './metrics.js';
import {
  DeploymentMetrics,
  type GroundTruth,
  ModelDeployment,
  ModelInbox,
  rulesJudge,
  type ShadowStore,
  versionsDirOf,
} from './models/index.js';
import { ModbusPlc, type PlcRecipeLink } from './plc/index.js';
import type { RecipeService } from './recipes/index.js';
import type { Clock } from './service.js';
import type { AuditLog, AuditQuery, DecisionStore, Storage } from './store/index.js';
import {
  auditRequestHandlers,
  byId,
  driftRequestHandlers,
  lineRequestHandlers,
  type MqttLink,
  type RequestableDrift,
  RequestRouter,
  recipeRequestHandlers,
} from './sync/index.js';

/** What every part is built with: the frozen config and the injected kernel. Part of the composition root. */
export interface Kernel {
  config: AgentConfig;
  clock: Clock;
  log: Logger;
  metrics: AgentMetrics;
  events: EventBus;
  alerts: Alerts;
}

/** One ModelDeployment per configured model, and a watched inbox folder where one is configured. */
export function buildModels(k: Kernel, shadowStore: ShadowStore, groundTruth?: GroundTruth) {
  const { clock, config } = k;
  const metrics = new DeploymentMetrics(k.metrics.registry);
  const models = new Map<string, ModelDeployment>();
  const inboxes: ModelInbox[] = [];
  for (const m of config.models) {
    const deployment = new ModelDeployment(m, {
      metrics,
      log: k.log.child({ module: 'inference', model: m.id }),
      clock,
      versionsDir: versionsDirOf(config.store.path, m),
      shadowStore,
      groundTruth,
      alerts: k.alerts,
      events: k.events,
    });
    models.set(m.id, deployment);
    if (m.inbox) {
      const log = k.log.child({ module: 'inbox', model: m.id });
      const install = (dir: string) => deployment.install(dir, { via: 'inbox' });
      inboxes.push(new ModelInbox(m.inbox, m.inboxPollMs, install, { clock, log }));
    }
  }
  return { models, inboxes };
}

interface LineParts {
  models: ReadonlyMap<string, ModelDeployment>;
  store: DecisionStore;
  storage: Storage;
  /** The fitness gate of a camera's inspector (drift.gate: true), none otherwise. */
  gate?: (cameraId: string) => FrameGate | undefined;
  /** Recipes, when configured: each shot asks them for its model, rules and deadline. */
  recipes?: RecipeService | undefined;
  /** Where a PLC's recipe register sends its requests (wiring-plant.ts). */
  plcRecipes?: PlcRecipeLink | undefined;
}

/** Each camera with its source and inspector, and the PLC that triggers it where one is configured. */
export function buildLine(k: Kernel, parts: LineParts) {
  const cameras = new Map<string, Camera<Decision>>();
  const plcs = new Map<string, ModbusPlc>();
  // continuous cameras of one model share one part ahead (docs/capture.md)
  const lookAhead = new LookAhead();
  for (const c of k.config.cameras) {
    const camera = buildCamera(k, c, parts, lookAhead);
    cameras.set(c.id, camera);
    if (c.plc) {
      // the camera records a verdict by its deadline whatever happens (fallback included): that is what the
      // PLC gets written, in trigger order
      const onTrigger = ({ partId }: { partId?: string }) => camera.trigger(partId);
      const log = k.log.child({ module: 'plc', camera: c.id });
      const recipes = parts.plcRecipes;
      plcs.set(
        c.id,
        new ModbusPlc(c.plc, { clock: k.clock, onTrigger, log, ...(recipes ? { recipes } : {}) }),
      );
    }
  }
  return { cameras, plcs };
}

function buildCamera(k: Kernel, c: CameraConfig, parts: LineParts, lookAhead: LookAhead): Camera<Decision> {
  const { clock, metrics, alerts, events } = k;
  const model = parts.models.get(c.model) as ModelDeployment; // the config schema guarantees the reference
  const log = k.log.child({ module: 'camera', camera: c.id });
  const { recipes } = parts;
  const inspector = new Inspector({
    cameraId: c.id,
    deadlineMs: c.deadlineMs,
    rules: c.rules,
    model: model.forCamera(
      c.id,
      rulesJudge(c.rules, () => model.labels),
    ),
    ...(recipes ? { profile: () => recipes.profile(c.id) } : {}),
    // a verdict the store cannot take now is answered degraded and held in memory (docs/storage.md)
    record: (draft, evidence) => parts.storage.recordOrHold(draft, evidence),
    gate: parts.gate?.(c.id),
    clock,
    log,
    metrics,
  });
  const source = createSource(c.source, {
    clock,
    log,
    alreadyDecided: (ref) => parts.store.hasSourceRef(c.id, ref),
    onStateChange: connectionReporter(c.id, { alerts, events }),
  });
  // with recipes, the model the next part will be judged by (it changes with the recipe)
  const isModelReady = recipes
    ? () => parts.models.get(recipes.profile(c.id).modelId)?.state === 'ready'
    : () => model.state === 'ready';
  return new Camera<Decision>(c, source, (shot) => inspector.inspect(shot), isModelReady, {
    clock,
    metrics,
    log,
    // the skip counts against the model judging this camera now (the active recipe's, with recipes)
    onSkipped: () => {
      const now = recipes ? parts.models.get(recipes.activeProfile(c.id).modelId) : model;
      now?.frameSkipped(c.id);
    },
    // status shows the active recipe's model, also while a changeover to another is pending
    ...(recipes ? { profile: () => recipes.activeProfile(c.id) } : {}),
    lookAhead,
  });
}

/** The requests (MQTT and HTTP alike) and the HTTP surface (CONTRACT sections 3 and 4). */
export function buildApi(
  k: Kernel,
  parts: {
    audit: AuditLog;
    auditQuery: AuditQuery;
    storage: Storage;
    cameras: ReadonlyMap<string, Camera<Decision>>;
    models: ReadonlyMap<string, ModelDeployment>;
    link: MqttLink;
    health: StatusService;
    /** Routes other parts serve (the technician page). */
    routes?: readonly RouteSet[];
    dataset?: DatasetDeps;
    /** Drift monitoring (`drift/baseline`, `GET /api/drift`); none when agent.yaml has no `drift`. */
    drift?: (RequestableDrift & { api(query: { camera?: string; limit?: number }): unknown }) | undefined;
    recipes?: RecipeService | undefined;
    /** Plant systems (PLC, OPC UA, Sparkplug) send their requests through the same router. */
    onRouter?: (router: RequestRouter) => void;
  },
): HttpServer {
  const { audit, auditQuery, health, models, drift } = parts;
  const http = k.config.health;
  const requests = new RequestRouter(
    {
      ...auditRequestHandlers(audit, k.events),
      ...lineRequestHandlers(parts.cameras, models),
      ...driftRequestHandlers(drift),
      ...recipeRequestHandlers(parts.recipes),
    },
    k.log.child({ module: 'requests' }),
    {
      journal: audit,
      now: () => k.clock.now(),
      onUnlogged: (entry) => k.metrics.requestsUnlogged.inc({ via: entry.via }),
    },
  );
  requests.attach(parts.link);
  parts.onRouter?.(requests);
  const app = buildHttpApp({
    status: () => health.status(),
    readiness: () => health.readiness(),
    metrics: () => health.metrics(),
    decisions: {
      list: (f) => auditQuery.page(f),
      get: (id) => auditQuery.detail(id),
      requests: (limit, before) => audit.requests(limit, before),
    },
    request: (name, body) => requests.handleText(name, body, 'http'),
    refused: (name, body, error) => requests.refuse(name, body, 'http', error),
    image: (id, kind) => parts.storage.image(auditQuery.detail(id), kind),
    token: k.config.health.token,
    installModel: (model, dir, files) => byId(models, model, 'model').install(dir, { via: 'http', files }),
    journal: (entry) => requests.journalled(entry),
    ...(parts.dataset ? { dataset: parts.dataset } : {}),
    // uploads are staged beside the store, on the disk installed versions are copied to, not in a tmpfs
    uploadDir: join(dirname(k.config.store.path), 'uploads'),
    limits: {
      maxConnections: http.maxConnections,
      headersTimeoutMs: http.headersTimeoutMs,
      requestTimeoutMs: http.requestTimeoutMs,
      keepAliveTimeoutMs: http.keepAliveTimeoutMs,
      maxUploadBytes: http.maxUploadMB * 1024 * 1024,
    },
    drift: (query) => (drift ? drift.api(query) : { enabled: false, cameras: [] }),
    log: k.log.child({ module: 'http' }),
    ...(parts.routes ? { routes: parts.routes } : {}),
  });
  return new HttpServer(app, k.config.health.listen, k.log.child({ module: 'http' }));
}
