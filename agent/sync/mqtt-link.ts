import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { AgentMetrics } from '../metrics.js';
import { redactUrl as maskUrl } from '../redact.js';
import { backoffDelay, type Clock, type Service, type TimerHandle, withTimeout } from '../service.js';
import { AGENT_VERSION } from '../version.js';
import { explainMqttError } from './mqtt-errors.js';

export type AgentState = 'online' | 'offline' | 'stopped';

export interface LinkStatus {
  connected: boolean;
  url: string;
  lastError: string | null;
  connectedSince: number | null;
  reconnects: number;
}

type Listener = () => void;
/** What a message listener learns besides topic and payload: `retain` is set for a message the broker kept. */
export interface MessageMeta {
  retain: boolean;
}
type MessageListener = (topic: string, payload: Buffer, meta: MessageMeta) => void;

/**
 * The one connection to the broker. mqtt.js's own reconnect is off: every attempt gets a fresh client, so a
 * message mqtt.js still held from a dead connection is never resent behind our back (the outbox is the only
 * resend queue), and attempts back off exponentially with jitter. `R/status` is retained and is also the
 * will, so the plant sees `offline` when we vanish and `stopped` when we stop on purpose.
 */
export class MqttLink implements Service {
  readonly name = 'mqtt';
  private client: MqttClient | undefined;
  private attempt = 0;
  private retryTimer: TimerHandle | undefined;
  private stopping = false;
  private readonly upListeners = new Set<Listener>();
  private readonly downListeners = new Set<Listener>();
  private readonly messageListeners = new Set<MessageListener>();
  private status: LinkStatus;

  constructor(
    private readonly config: AgentConfig['mqtt'],
    private readonly agentId: string,
    readonly topicRoot: string,
    private readonly deps: { clock: Clock; log: Logger; metrics: AgentMetrics },
  ) {
    this.status = {
      connected: false,
      url: redactUrl(config.url),
      lastError: null,
      connectedSince: null,
      reconnects: 0,
    };
  }

  get connected(): boolean {
    return this.status.connected;
  }

  snapshot(): LinkStatus {
    return { ...this.status };
  }

  onUp(fn: Listener): void {
    this.upListeners.add(fn);
  }

  onDown(fn: Listener): void {
    this.downListeners.add(fn);
  }

  onMessage(fn: MessageListener): void {
    this.messageListeners.add(fn);
  }

  async start(): Promise<void> {
    this.connect();
  }

  /** Publishes `stopped` (best effort, bounded) and disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer !== undefined) this.deps.clock.clearTimeout(this.retryTimer);
    const client = this.client;
    if (!client) return;
    if (this.status.connected) {
      // bounded in real time too: shutdown must not wait on a clock a test holds still
      const stopped = this.publish(
        `${this.topicRoot}/status`,
        this.statusPayload('stopped'),
        { qos: 1, retain: true },
        2_000,
      );
      await withTimeout(stopped, 2_000, () => new Error('no PUBACK for the stopped status')).catch(
        (err: unknown) => this.deps.log.warn({ err }, 'could not publish the stopped status'),
      );
    }
    await withTimeout(client.endAsync(), 2_000, () => new Error('disconnect timed out')).catch(() =>
      client.end(true),
    );
    this.markDown();
  }

  /** QoS 1 resolves on PUBACK. Rejects when not connected or when no ack comes within the timeout. */
  publish(
    topic: string,
    payload: string | Buffer,
    opts: { qos: 0 | 1; retain?: boolean },
    timeoutMs = this.config.publishTimeoutMs,
  ): Promise<void> {
    const client = this.client;
    if (!client || !this.status.connected) {
      return Promise.reject(new AgentError(ErrorCodes.MQTT_CONNECT, 'not connected to the broker'));
    }
    const sent = new Promise<void>((resolve, reject) => {
      client.publish(topic, payload, { qos: opts.qos, retain: opts.retain ?? false }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
    // mqtt.js may never call back if the connection drops mid-flight: our own timeout (on the injected
    // clock) bounds the wait; a PUBACK arriving later is ignored and the outbox sends the decision again
    return clockTimeout(
      sent,
      timeoutMs,
      this.deps.clock,
      () => new AgentError(ErrorCodes.MQTT_PUBLISH_TIMEOUT, `no PUBACK within ${timeoutMs} ms on ${topic}`),
    );
  }

  statusPayload(state: AgentState): string {
    return JSON.stringify({
      state,
      agentId: this.agentId,
      version: AGENT_VERSION,
      ts: this.deps.clock.now(),
    });
  }

  private connect(): void {
    if (this.stopping) return;
    let options: IClientOptions;
    try {
      options = this.clientOptions();
    } catch (err) {
      this.status.lastError = describeError(err);
      this.deps.log.error({ err }, 'MQTT settings unusable; decisions stay in the store');
      this.scheduleRetry();
      return;
    }
    const client = mqtt.connect(this.config.url, options);
    this.client = client;
    client.on('connect', () => {
      this.attempt = 0;
      this.status = {
        ...this.status,
        connected: true,
        lastError: null,
        connectedSince: this.deps.clock.now(),
      };
      this.deps.metrics.mqttConnected.set(1);
      this.deps.log.info({ url: this.status.url }, 'connected to the broker');
      client.subscribe(`${this.topicRoot}/request/#`, { qos: 1 }, (err) => {
        if (err) this.deps.log.error({ err }, 'cannot subscribe to requests');
      });
      this.publish(`${this.topicRoot}/status`, this.statusPayload('online'), { qos: 1, retain: true }).catch(
        (err: unknown) => this.deps.log.warn({ err }, 'could not publish the online status'),
      );
      for (const fn of this.upListeners) fn();
    });
    client.on('message', (topic, payload, packet) => {
      const meta = { retain: packet.retain };
      for (const fn of this.messageListeners) fn(topic, payload, meta);
    });
    client.on('error', (err) => {
      const message = explainMqttError(err);
      // a broker that stays away would log this every retry: say it once per distinct error
      if (message !== this.status.lastError) {
        this.deps.log.warn(
          { err: { message, code: (err as { code?: unknown }).code } },
          'MQTT error; retrying with backoff',
        );
      }
      this.status.lastError = message;
    });
    client.on('close', () => {
      if (this.client !== client) return;
      client.removeAllListeners('close');
      client.end(true);
      this.markDown();
      this.scheduleRetry();
    });
  }

  private markDown(): void {
    if (!this.status.connected) return;
    this.status = { ...this.status, connected: false, connectedSince: null };
    this.deps.metrics.mqttConnected.set(0);
    this.deps.log.warn({ url: this.status.url }, 'disconnected from the broker; decisions wait in the store');
    for (const fn of this.downListeners) fn();
  }

  private scheduleRetry(): void {
    if (this.stopping) return;
    const delay = backoffDelay(this.attempt++, this.config.reconnectMinMs, this.config.reconnectMaxMs);
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.status.reconnects++;
      this.deps.metrics.mqttReconnects.inc();
      this.connect();
    }, delay);
  }

  private clientOptions(): IClientOptions {
    const c = this.config;
    const read = (path: string | undefined, what: string) => {
      if (!path) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw new AgentError(
          ErrorCodes.MQTT_CONNECT,
          `cannot read mqtt.${what} ${path}: ${describeError(err)}`,
        );
      }
    };
    const ca = read(c.ca, 'ca');
    const cert = read(c.cert, 'cert');
    const key = read(c.key, 'key');
    return {
      clientId: c.clientId ?? `edge-agent-${this.agentId}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 30,
      queueQoSZero: false,
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      will: {
        topic: `${this.topicRoot}/status`,
        payload: Buffer.from(this.statusPayload('offline')),
        qos: 1,
        retain: true,
      },
    };
  }
}

/** `withTimeout` on an injected clock, so tests can move time instead of sleeping. */
function clockTimeout<T>(work: Promise<T>, ms: number, clock: Clock, makeError: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(makeError()), ms);
    work.then(
      (v) => {
        clock.clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clock.clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** The broker URL without credentials, for logs and status (`mqtt://host:1883`, no trailing slash). */
export function redactUrl(url: string): string {
  return maskUrl(url).replace(/\/$/, '');
}
