import type { Logger } from 'pino';
import { type AgentConfig, MQTT_KEEPALIVE_S } from '../config/index.js';
import type { EventBus } from '../events.js';
import type { AgentMetrics } from '../metrics.js';
import type { Clock, Service } from '../service.js';
import { AGENT_VERSION } from '../version.js';
import { type MessageMeta, MqttConnection, type MqttConnectionStatus } from './mqtt-connection.js';

declare module '../events.js' {
  interface AgentEvents {
    /** The broker session of the JSON link came up or went down. */
    LinkStateChanged: { connected: boolean };
  }
}

export { type MessageMeta, redactUrl } from './mqtt-connection.js';

export type AgentState = 'online' | 'offline' | 'stopped';

export type LinkStatus = MqttConnectionStatus;

type Listener = () => void;
type MessageListener = (topic: string, payload: Buffer, meta: MessageMeta) => void;

/** agent.yaml's `mqtt` block; `keepaliveS` may be left out by code that builds one (the config's default). */
export type MqttLinkConfig = Omit<AgentConfig['mqtt'], 'keepaliveS'> &
  Partial<Pick<AgentConfig['mqtt'], 'keepaliveS'>>;

/** The stopped status on a clean stop, and the disconnect after it, get this long each. */
const STOP_MS = 2_000;

/**
 * The agent's JSON link to the plant, on its own `MqttConnection`. `R/status` is retained and is also the
 * will, so the plant sees `offline` when we vanish and `stopped` when we stop on purpose; `online` is
 * published again on every session, and requests are subscribed on every session.
 */
export class MqttLink implements Service {
  readonly name = 'mqtt';
  private readonly connection: MqttConnection;
  private statusDetail: Record<string, unknown> = {};

  constructor(
    config: MqttLinkConfig,
    private readonly agentId: string,
    readonly topicRoot: string,
    private readonly deps: {
      clock: Clock;
      log: Logger;
      metrics: AgentMetrics;
      /** Where `LinkStateChanged` is told (the agent's bus). */
      events?: EventBus;
    },
  ) {
    this.connection = new MqttConnection(
      {
        url: config.url,
        clientId: config.clientId ?? `edge-agent-${agentId}`,
        username: config.username,
        password: config.password,
        ca: config.ca,
        cert: config.cert,
        key: config.key,
        keepaliveS: config.keepaliveS ?? MQTT_KEEPALIVE_S,
        connectTimeoutMs: 10_000,
        reconnectMinMs: config.reconnectMinMs,
        reconnectMaxMs: config.reconnectMaxMs,
        publishTimeoutMs: config.publishTimeoutMs,
        will: () => ({
          topic: this.statusTopic,
          payload: Buffer.from(this.statusPayload('offline')),
          qos: 1,
          retain: true,
        }),
        label: 'MQTT',
        setting: (file) => `mqtt.${file}`,
      },
      deps,
    );
    // registered first, so the link's own work on up/down comes before any listener's
    this.connection.onUp(() => {
      this.sessionUp();
      deps.events?.emit('LinkStateChanged', { connected: true });
    });
    this.connection.onDown(() => {
      deps.log.warn({ url: this.url }, 'disconnected from the broker; decisions wait in the store');
      deps.events?.emit('LinkStateChanged', { connected: false });
    });
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  snapshot(): LinkStatus {
    return this.connection.snapshot();
  }

  onUp(fn: Listener): void {
    this.connection.onUp(fn);
  }

  onDown(fn: Listener): void {
    this.connection.onDown(fn);
  }

  onMessage(fn: MessageListener): void {
    this.connection.onMessage(fn);
  }

  async start(): Promise<void> {
    this.connection.open();
  }

  /** Publishes `stopped` (best effort, bounded) and disconnects. */
  async stop(): Promise<void> {
    await this.connection.close(STOP_MS, {
      what: 'the stopped status',
      send: () =>
        this.publish(this.statusTopic, this.statusPayload('stopped'), { qos: 1, retain: true }, STOP_MS),
    });
  }

  /** QoS 1 resolves on PUBACK. Rejects when not connected or when no ack comes within the timeout. */
  publish(
    topic: string,
    payload: string | Buffer,
    opts: { qos: 0 | 1; retain?: boolean },
    timeoutMs?: number,
  ): Promise<void> {
    return this.connection.publish(topic, payload, opts, timeoutMs);
  }

  statusPayload(state: AgentState): string {
    return JSON.stringify({
      state,
      agentId: this.agentId,
      version: AGENT_VERSION,
      // not in the will: it is built at connect time, and the recipe may change before it is sent
      ...(state === 'offline' ? {} : this.statusDetail),
      ts: this.deps.clock.now(),
    });
  }

  /**
   * Fields added to `R/status` from now on (the active recipe, so the plant sees the echo there too), and in
   * the will; `online` is published again with them at once.
   */
  setStatusDetail(detail: Record<string, unknown>): void {
    this.statusDetail = { ...detail };
    if (!this.connected) return; // the next session publishes it anyway
    this.publish(this.statusTopic, this.statusPayload('online'), { qos: 1, retain: true }).catch(
      (err: unknown) => this.deps.log.warn({ err }, 'could not publish the status'),
    );
  }

  private get statusTopic(): string {
    return `${this.topicRoot}/status`;
  }

  private get url(): string {
    return this.connection.snapshot().url;
  }

  private sessionUp(): void {
    this.deps.log.info({ url: this.url }, 'connected to the broker');
    this.connection.subscribe({ [`${this.topicRoot}/request/#`]: { qos: 1 } }, (err) => {
      if (err) this.deps.log.error({ err }, 'cannot subscribe to requests');
    });
    this.publish(this.statusTopic, this.statusPayload('online'), { qos: 1, retain: true }).catch(
      (err: unknown) => this.deps.log.warn({ err }, 'could not publish the online status'),
    );
  }
}
