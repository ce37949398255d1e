import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { Camera, type ConnectionState, createSource } from './capture/index.js';
import { type AgentConfig, topicRootOf } from './config/index.js';
import { type Decision, type DecisionDraft, type Evidence, Inspector } from './decision/index.js';
import { agentError } from './errors.js';
import { buildHttpApp, HttpServer, type Readiness, SystemMonitor } from './health/index.js';
import { AgentMetrics } from './metrics.js';
import {
  DeploymentMetrics,
  ModelDeployment,
  ModelInbox,
  rulesJudge,
  ShadowStore,
  versionsDirOf,
} from './models/index.js';
import { ModbusPlc } from './plc/index.js';
import { type Clock, type Service, systemClock, withTimeout } from './service.js';
import { AuditLog, AuditQuery, DecisionStore, Storage } from './store/index.js';
import {
  AlertPublisher,
  auditRequestHandlers,
  type DeliveryChannel,
  HealthReporter,
  JsonChannel,
  MqttLink,
  OutboxPublisher,
  RequestRouter,
} from './sync/index.js';
import { SparkplugChannel } from './sync/sparkplug/index.js';
import { AGENT_VERSION } from './version.js';

export interface AgentDeps {
  log: Logger;
  clock?: Clock;
}

export interface Problem {
  code: string;
  severity: 'warning' | 'critical';
  message: string;
  cameraId?: string;
  modelId?: string;
}

/** How long one service may take to stop before the agent moves on to the next. */
const STOP_TIMEOUT_MS = 10_000;
/** WAL checkpoints keep the -wal file from growing without bound between restarts. */
const CHECKPOINT_PERIOD_MS = 5 * 60_000;
/** A backlog above this many decisions is listed as a problem (the broker has been away a while). */
const BACKLOG_WARNING = 1_000;

/**
 * Wires the agent from a validated config: capture -> inference -> decision -> store -> sync, with health
 * reading from all of them. Owns start order and reverse stop order; knows nothing about argv or signals.
 */
export class Agent {
  readonly metrics = new AgentMetrics();
  readonly store: DecisionStore;
  /** Images, the disk budget and retention around the decision log. */
  readonly storage: Storage;
  readonly models = new Map<string, ModelDeployment>();
  private readonly shadowStore: ShadowStore;
  private readonly inboxes: ModelInbox[] = [];
  readonly cameras = new Map<string, Camera<Decision>>();
  readonly link: MqttLink;
  readonly http: HttpServer;
  private readonly publishers: OutboxPublisher[];
  private readonly sparkplug: SparkplugChannel | undefined;
  private readonly alerts: AlertPublisher;
  private readonly plcs: ModbusPlc[] = [];
  private readonly services: Service[];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly monitor: SystemMonitor;
  private readonly startedAt: number;
  private checkpointTimer: ReturnType<typeof setInterval> | undefined;
  private started: Service[] = [];

  constructor(
    readonly config: AgentConfig,
    deps: AgentDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log;
    this.startedAt = this.clock.now();
    const core = { clock: this.clock, metrics: this.metrics };

    const topicRoot = topicRootOf(config);
    this.link = new MqttLink(config.mqtt, config.agent.id, topicRoot, {
      ...core,
      log: this.log.child({ module: 'mqtt' }),
    });
    const channels: DeliveryChannel[] = [];
    if (config.mqtt.format !== 'sparkplug') channels.push(new JsonChannel(this.link));
    if (config.mqtt.format !== 'json' && config.mqtt.sparkplug) {
      this.sparkplug = this.createSparkplug(config);
      channels.push(this.sparkplug);
    }
    this.store = new DecisionStore({
      path: config.store.path,
      agentId: config.agent.id,
      log: this.log.child({ module: 'store' }),
      now: () => this.clock.now(),
      channels: channels.map((c) => c.name),
    });
    const imagesDir = config.store.imagesDir ?? join(dirname(config.store.path), 'images');
    this.storage = new Storage(
      this.store,
      { ...config.store, imagesDir },
      {
        ...core,
        log: this.log.child({ module: 'storage' }),
        alerts: { raise: (alert) => this.alerts.raise(alert) },
      },
    );
    this.shadowStore = new ShadowStore(this.store.db, this.log.child({ module: 'shadow' }));
    const deploymentMetrics = new DeploymentMetrics(this.metrics.registry);
    for (const m of config.models) {
      const deployment = new ModelDeployment(m, {
        metrics: deploymentMetrics,
        log: this.log.child({ module: 'inference', model: m.id }),
        clock: this.clock,
        versionsDir: versionsDirOf(config.store.path, m),
        shadowStore: this.shadowStore,
        alert: (a) => this.alerts.raise(a),
      });
      this.models.set(m.id, deployment);
      if (m.inbox) {
        const log = this.log.child({ module: 'inbox', model: m.id });
        this.inboxes.push(
          new ModelInbox(m.inbox, m.inboxPollMs, (dir) => deployment.install(dir), {
            clock: this.clock,
            log,
          }),
        );
      }
    }
    // one outbox publisher per channel: a Sparkplug host being away never holds back the JSON topics
    this.publishers = channels.map(
      (channel) =>
        new OutboxPublisher(
          this.store,
          channel,
          {
            maxInFlight: config.mqtt.maxInFlight,
            backlogShare: config.mqtt.backlogShare,
            backlogRatePerSec: config.mqtt.backlogRatePerSec,
          },
          {
            ...core,
            log: this.log.child({ module: 'outbox', channel: channel.name }),
          },
        ),
    );
    for (const c of config.cameras) {
      const model = this.models.get(c.model) as ModelDeployment; // the config schema guarantees the reference
      const log = this.log.child({ module: 'camera', camera: c.id });
      const inspector = new Inspector({
        cameraId: c.id,
        deadlineMs: c.deadlineMs,
        rules: c.rules,
        model: model.forCamera(
          c.id,
          rulesJudge(c.rules, () => model.labels),
        ),
        record: (draft, evidence) => this.record(draft, evidence),
        clock: this.clock,
        log,
        metrics: this.metrics,
      });
      const source = createSource(c.source, {
        clock: this.clock,
        log,
        alreadyDecided: (ref) => this.store.hasSourceRef(c.id, ref),
        onStateChange: (state, reason) => this.cameraConnection(c.id, state, reason),
      });
      const camera = new Camera<Decision>(
        c,
        source,
        (shot) => inspector.inspect(shot),
        () => model.state === 'ready',
        {
          ...core,
          log,
        },
      );
      this.cameras.set(c.id, camera);
      if (c.plc) {
        this.plcs.push(
          new ModbusPlc(c.plc, {
            clock: this.clock,
            log: this.log.child({ module: 'plc', camera: c.id }),
            // the camera records a verdict by its deadline whatever happens (fallback included): that is
            // what the PLC gets written, in trigger order
            onTrigger: async ({ partId }) => {
              const d = await camera.trigger(partId);
              return { verdict: d.verdict, degraded: d.degraded, seq: d.seq };
            },
          }),
        );
      }
    }
    const audit = new AuditLog(this.store.db, () => this.clock.now());
    const auditQuery = new AuditQuery(this.store.db, audit);
    const requests = new RequestRouter(
      {
        ...auditRequestHandlers(audit),
        trigger: async ({ camera, partId }) => {
          const decision = await this.camera(camera).trigger(partId);
          return { decisionId: decision.id, seq: decision.seq, verdict: decision.verdict };
        },
        'camera/enable': async ({ camera, enabled }) => {
          this.camera(camera).setEnabled(enabled);
          return { camera, enabled };
        },
        'model/promote': ({ model, version }) => this.model(model).promote(version),
        'model/rollback': ({ model }) => this.model(model).rollback(),
      },
      this.log.child({ module: 'requests' }),
      {
        journal: audit,
        now: () => this.clock.now(),
        onUnlogged: (entry) => this.metrics.requestsUnlogged.inc({ via: entry.via }),
      },
    );
    requests.attach(this.link);
    this.monitor = new SystemMonitor(config.store.path, this.log.child({ module: 'system' }));
    const app = buildHttpApp({
      status: () => this.status(),
      readiness: () => this.readiness(),
      metrics: async () => {
        this.refreshGauges();
        return {
          contentType: this.metrics.registry.contentType,
          body: await this.metrics.registry.metrics(),
        };
      },
      decisions: {
        list: (f) => auditQuery.page(f),
        get: (id) => auditQuery.detail(id),
        requests: (limit, before) => audit.requests(limit, before),
      },
      request: (name, body) => requests.handleText(name, body, 'http'),
      refused: (name, body, error) => requests.refuse(name, body, 'http', error),
      image: (id, kind) => this.storage.image(auditQuery.detail(id), kind),
      token: config.health.token,
      installModel: (model, dir) => this.model(model).install(dir),
    });
    this.http = new HttpServer(app, config.health.listen, this.log.child({ module: 'http' }));
    const reporter = new HealthReporter(this.link, () => this.status(), this.log.child({ module: 'health' }));
    this.alerts = new AlertPublisher(this.link, { ...core, log: this.log.child({ module: 'alerts' }) });

    // start order: health first (so /healthz answers while models load), cameras last
    this.services = [
      this.monitor,
      this.http,
      ...this.models.values(),
      ...this.inboxes,
      this.link,
      ...(this.sparkplug ? [this.sparkplug] : []),
      ...this.publishers,
      reporter,
      this.alerts,
      ...this.storage.services,
      ...this.cameras.values(),
      ...this.plcs,
    ];
  }

  async start(signal: AbortSignal = new AbortController().signal): Promise<void> {
    if (this.config.drift)
      this.log.warn('drift reporting is not available in this version; drift settings are ignored');
    for (const service of this.services) {
      if (service instanceof ModelDeployment) continue; // models load together below
      if (service === this.link) {
        await Promise.all([...this.models.values()].map((m) => this.startOne(m, signal)));
      }
      await this.startOne(service, signal);
    }
    this.checkpointTimer = setInterval(() => this.checkpoint(), CHECKPOINT_PERIOD_MS);
    this.checkpointTimer.unref();
    this.log.info(
      { version: AGENT_VERSION, cameras: this.cameras.size, lastSeq: this.store.lastSeq() },
      'agent started',
    );
  }

  /** Reverse order, each stop bounded; a failure is logged and does not block the rest. The store closes last. */
  async stop(): Promise<void> {
    clearInterval(this.checkpointTimer);
    for (const service of [...this.started].reverse()) {
      const limit = service instanceof Camera ? this.maxDeadlineMs() + STOP_TIMEOUT_MS : STOP_TIMEOUT_MS;
      try {
        await withTimeout(
          service.stop(),
          limit,
          () => new Error(`${service.name} did not stop within ${limit} ms`),
        );
      } catch (err) {
        this.log.error({ err, service: service.name }, 'service stop failed');
      }
    }
    this.started = [];
    this.store.close();
    this.log.info('agent stopped');
  }

  status() {
    const stats = this.store.stats();
    return {
      agent: {
        id: this.config.agent.id,
        version: AGENT_VERSION,
        startedAt: this.startedAt,
        uptimeS: Math.round((this.clock.now() - this.startedAt) / 1000),
        pid: process.pid,
      },
      cameras: [...this.cameras.values()].map((c) => c.snapshot()),
      models: [...this.models.values()].map((m) => m.snapshot()),
      store: {
        path: this.config.store.path,
        backlog: stats.backlog,
        lastSeq: stats.lastSeq,
        bytes: stats.bytes,
        ...this.storage.snapshot(),
      },
      mqtt: {
        ...this.link.snapshot(),
        topicRoot: this.link.topicRoot,
        inFlight: this.publishers.reduce((n, p) => n + p.inFlight, 0),
      },
      sparkplug: this.sparkplug?.snapshot() ?? null,
      plc: this.plcs.map((p, i) => ({
        camera: this.config.cameras.filter((c) => c.plc)[i]?.id,
        ...p.snapshot(),
      })),
      alerts: this.alerts.active(),
      system: this.monitor.snapshot(),
      problems: this.problems(stats.backlog),
    };
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    for (const camera of this.cameras.values()) {
      const s = camera.snapshot();
      if (!s.enabled) continue;
      const model = this.models.get(s.model);
      if (model?.state !== 'ready')
        reasons.push(`camera ${s.id}: model ${s.model} is ${model?.state ?? 'missing'}`);
    }
    if (!this.store.writable()) reasons.push('store is not writable');
    return { ready: reasons.length === 0, reasons };
  }

  private problems(backlog: number): Problem[] {
    const out: Problem[] = [];
    for (const m of this.models.values()) {
      const s = m.snapshot();
      if (s.state === 'failed') {
        out.push({
          code: 'MODEL_FAILED',
          severity: 'critical',
          modelId: s.id,
          message: s.error ?? 'model failed',
        });
      }
    }
    for (const c of this.cameras.values()) {
      const s = c.snapshot();
      if (s.state === 'waiting-for-model') {
        out.push({
          code: 'CAMERA_WAITING',
          severity: 'critical',
          cameraId: s.id,
          message: `waiting for model ${s.model}`,
        });
      }
    }
    if (!this.link.connected) {
      out.push({
        code: 'MQTT_DOWN',
        severity: 'warning',
        message: `not connected to ${this.link.snapshot().url}${this.link.snapshot().lastError ? `: ${this.link.snapshot().lastError}` : ''}; decisions are buffered`,
      });
    }
    const disk = this.storage.budget;
    if (disk.isFull) {
      out.push({
        code: 'DISK_FULL',
        severity: 'critical',
        message:
          'store.maxDiskMB reached with only undelivered decisions left: verdicts are recorded, images are not',
      });
    }
    if (backlog > BACKLOG_WARNING) {
      out.push({
        code: 'BACKLOG',
        severity: 'warning',
        message: `${backlog} decisions waiting to be delivered`,
      });
    }
    return out;
  }

  private createSparkplug(config: AgentConfig): SparkplugChannel {
    const m = config.mqtt;
    const sp = m.sparkplug as NonNullable<typeof m.sparkplug>;
    return new SparkplugChannel(
      {
        url: m.url,
        username: m.username,
        password: m.password,
        ca: m.ca,
        cert: m.cert,
        key: m.key,
        clientId: m.clientId,
        groupId: sp.groupId,
        primaryHostId: sp.primaryHostId,
        ddataQos: sp.ddataQos,
        edgeNodeId: config.agent.id,
        deviceIds: config.cameras.map((c) => c.id),
        bdSeqFile: join(dirname(config.store.path), 'sparkplug-bdseq'),
        publishTimeoutMs: m.publishTimeoutMs,
        reconnectMinMs: m.reconnectMinMs,
        reconnectMaxMs: m.reconnectMaxMs,
      },
      { clock: this.clock, log: this.log.child({ module: 'sparkplug' }) },
    );
  }

  /** A stream camera's connection changed: `down` raises a critical alert, anything else clears it. */
  private cameraConnection(cameraId: string, state: ConnectionState, reason: string): void {
    if (state === 'starting') return;
    this.alerts.raise({
      code: 'CAMERA_DOWN',
      severity: 'critical',
      cameraId,
      active: state === 'down',
      message:
        state === 'down' ? `camera ${cameraId} is down: ${reason}` : `camera ${cameraId} is back (${state})`,
    });
  }

  private async record(draft: DecisionDraft, evidence?: Evidence): Promise<Decision> {
    const decision = await this.storage.record(draft, evidence);
    for (const p of this.publishers) p.notify();
    return decision;
  }

  private model(id: string): ModelDeployment {
    const model = this.models.get(id);
    if (!model) throw agentError('MODEL_UNKNOWN', { model: id, known: [...this.models.keys()] });
    return model;
  }

  private camera(id: string): Camera<Decision> {
    const camera = this.cameras.get(id);
    if (!camera) throw agentError('CAMERA_UNKNOWN', { camera: id, known: [...this.cameras.keys()] });
    return camera;
  }

  private async startOne(service: Service, signal: AbortSignal): Promise<void> {
    await service.start(signal);
    this.started.push(service);
  }

  private refreshGauges(): void {
    const stats = this.store.stats();
    this.metrics.backlog.set(stats.backlog);
    this.metrics.storeBytes.set(stats.bytes);
    this.storage.budget.usage(); // sets eva_store_disk_bytes
  }

  private checkpoint(): void {
    try {
      this.store.checkpoint();
    } catch (err) {
      this.log.warn({ err }, 'WAL checkpoint failed');
    }
  }

  private maxDeadlineMs(): number {
    return Math.max(0, ...this.config.cameras.map((c) => c.deadlineMs));
  }
}
