import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { Alerts } from './alerts.js';
import type { Camera } from './capture/index.js';
import { type AgentConfig, topicRootOf } from './config/index.js';
import type { Decision } from './decision/index.js';
import { EventBus } from './events.js';
import type { StatusService } from './health/index.js';
import type { HttpServer } from './http/index.js';
import { Lifecycle } from './lifecycle.js';
import { AgentMetrics } from './metrics.js';
import { GroundTruth, type ModelDeployment, ShadowStore } from './models/index.js';
import type { RecipeService } from './recipes/index.js';
import { type Clock, systemClock } from './service.js';
import { AuditLog, AuditQuery, DecisionStore, Storage, WalCheckpoint } from './store/index.js';
import {
  AlertPublisher,
  type DeliveryChannel,
  HEALTH_PERIOD_MS,
  HealthReporter,
  JsonChannel,
  MqttLink,
  OutboxPublisher,
  PlantRequests,
} from './sync/index.js';
import { SparkplugChannel, sparkplugOptionsOf } from './sync/sparkplug/index.js';
import { AGENT_VERSION } from './version.js';
import { buildApi, buildLine, buildModels, type Kernel } from './wiring.js';
import { buildDataset } from './wiring-dataset.js';
import { buildDrift } from './wiring-drift.js';
import { buildMonitoring } from './wiring-health.js';
import { buildPlantServices, buildRecipes, plcRecipeLink } from './wiring-plant.js';

export interface AgentDeps {
  log: Logger;
  clock?: Clock;
}

/**
 * The composition root (with wiring.ts): builds every service from the frozen config and the injected clock
 * and logger, and hands them to one Lifecycle in dependency stages. Constructors only assign; nothing here
 * opens a file or a socket, so a failed or interrupted start can always be stopped. No runtime logic lives
 * here: status is health/StatusService's, what follows a stored decision listens on the EventBus, and every
 * alert goes through Alerts.
 */
export class Agent {
  readonly metrics = new AgentMetrics();
  readonly events: EventBus;
  readonly alerts: Alerts;
  readonly store: DecisionStore;
  /** Images, the disk budget and retention around the decision log. */
  readonly storage: Storage;
  readonly models: ReadonlyMap<string, ModelDeployment>;
  readonly cameras: ReadonlyMap<string, Camera<Decision>>;
  readonly link: MqttLink;
  readonly http: HttpServer;
  readonly health: StatusService;
  /** Product changeover, when recipes are configured (docs/recipes.md). */
  readonly recipes: RecipeService | undefined;
  private readonly lifecycle: Lifecycle;
  private readonly log: Logger;

  constructor(
    readonly config: AgentConfig,
    deps: AgentDeps,
  ) {
    const clock = deps.clock ?? systemClock;
    const log = deps.log;
    const child = (module: string, more: Record<string, string> = {}) => log.child({ module, ...more });
    const { metrics } = this;
    this.log = log;
    const events = new EventBus(child('events'));
    const alerts = new Alerts({ clock, events, log: child('alerts') });
    const k: Kernel = { config, clock, log, metrics, events, alerts };
    this.events = events;
    this.alerts = alerts;

    this.link = new MqttLink(config.mqtt, config.agent.id, topicRootOf(config), {
      clock,
      metrics,
      events,
      log: child('mqtt'),
    });
    const spOptions = sparkplugOptionsOf(config);
    const sparkplug = spOptions && new SparkplugChannel(spOptions, { clock, log: child('sparkplug') });
    const channels: DeliveryChannel[] = [];
    if (config.mqtt.format !== 'sparkplug') channels.push(new JsonChannel(this.link));
    if (sparkplug) channels.push(sparkplug);

    this.store = new DecisionStore({
      path: config.store.path,
      agentId: config.agent.id,
      log: child('store'),
      now: () => clock.now(),
      channels: channels.map((c) => c.name),
    });
    const imagesDir = config.store.imagesDir ?? join(dirname(config.store.path), 'images');
    this.storage = new Storage(
      this.store,
      { ...config.store, imagesDir },
      { clock, metrics, alerts, events, log: child('storage') },
    );
    const audit = new AuditLog(this.store, () => clock.now(), events);
    const auditQuery = new AuditQuery(this.store, audit);
    const shadowStore = new ShadowStore(this.store, child('shadow'), events);
    const { models, inboxes } = buildModels(k, shadowStore, new GroundTruth(this.store));
    this.models = models;
    const { recipes, modelServices } = buildRecipes(k, { models, store: this.store });
    this.recipes = recipes;
    const plant = new PlantRequests();
    // one outbox publisher per channel: a Sparkplug host being away never holds back the JSON topics
    const { maxInFlight, backlogShare, backlogRatePerSec } = config.mqtt;
    const publishers = channels.map(
      (channel) =>
        new OutboxPublisher(
          this.store,
          channel,
          { maxInFlight, backlogShare, backlogRatePerSec },
          { clock, metrics, events, log: child('outbox', { channel: channel.name }) },
        ),
    );
    const drift = buildDrift(k, { store: this.store, link: this.link, sparkplug });
    const gate = (cameraId: string) => drift?.monitor.gate(cameraId);
    const { cameras, plcs } = buildLine(k, {
      ...{ models, store: this.store, storage: this.storage, gate },
      ...{ recipes, plcRecipes: plcRecipeLink(recipes, plant) },
    });
    this.cameras = cameras;

    const { hardExamples, dataset } = buildDataset(k, { store: this.store, storage: this.storage });
    const { link, storage, store } = this;
    const plantParts = { link, cameras, plcs, sparkplug, recipes, plant, store };
    const { services: plantServices, opcua } = buildPlantServices(k, plantParts);
    const monitoring = buildMonitoring(k, {
      ...{ cameras, models, storage, auditQuery, link, publishers, sparkplug, plcs },
      ...{ drift: drift?.monitor, recipes, opcua },
    });
    const { monitor, lineStats, problems, history, live, judged } = monitoring;
    this.health = monitoring.health;
    this.http = buildApi(k, {
      ...{ audit, auditQuery, storage, cameras, models, link, health: this.health, dataset },
      ...{ drift: drift?.monitor, recipes, onRouter: plant.attach.bind(plant) },
      routes: [monitoring.routes],
    });
    const reporter = new HealthReporter(
      link,
      () => this.health.status(),
      child('health'),
      HEALTH_PERIOD_MS,
      clock,
    );
    const alertPublisher = new AlertPublisher(link, { events, metrics, log: child('alerts') });
    const checkpoint = new WalCheckpoint(this.store, { clock, log: child('store') });

    // the store first and last; /healthz and the broker before models load (a stop while they load still
    // says `stopped`); the line last, so no part is judged before what records and delivers it is up
    this.lifecycle = new Lifecycle(
      [
        {
          name: 'store',
          services: [this.store, monitor, alertPublisher, problems, ...(drift ? [drift.publisher] : [])],
        },
        { name: 'storage', services: [storage, lineStats, shadowStore] },
        {
          name: 'connect',
          services: [this.http, link, ...(sparkplug ? [sparkplug] : []), reporter, history, live, judged],
        },
        { name: 'models', services: [...modelServices, ...inboxes, hardExamples] },
        // drift listens before the line starts, so it sees every decision
        {
          name: 'deliver',
          services: [...publishers, checkpoint, ...(drift ? [drift.monitor] : []), ...plantServices],
        },
        { name: 'line', services: [...cameras.values(), ...plcs.values()] },
      ],
      log,
    );
  }

  /** Starts every stage in order; returns early, without error, when `signal` aborts (a stop while starting). */
  async start(signal: AbortSignal = new AbortController().signal): Promise<void> {
    await this.lifecycle.start(signal);
    if (signal.aborted) return;
    const lastSeq = this.store.lastSeq();
    this.log.info({ version: AGENT_VERSION, cameras: this.cameras.size, lastSeq }, 'agent started');
  }

  /** Reverse stages, each stop bounded; the store closes last. */
  async stop(): Promise<void> {
    await this.lifecycle.stop();
    this.log.info('agent stopped');
  }

  status() {
    return this.health.status();
  }
}
