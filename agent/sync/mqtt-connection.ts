import { readFileSync } from 'node:fs';
import mqtt, {
  type IClientOptions,
  type ISubscriptionGrant,
  type ISubscriptionMap,
  type MqttClient,
} from 'mqtt';
import type { Logger } from 'pino';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { AgentMetrics } from '../metrics.js';
import { redactUrl as maskUrl } from '../redact.js';
import { backoffDelay, type Clock, type TimerHandle, withTimeout } from '../service.js';
import { explainMqttError } from './mqtt-errors.js';

/** What a message listener learns besides topic and payload: `retain` is set for a message the broker kept. */
export interface MessageMeta {
  retain: boolean;
}

export interface MqttConnectionStatus {
  connected: boolean;
  /** The broker URL without credentials. */
  url: string;
  lastError: string | null;
  connectedSince: number | null;
  reconnects: number;
}

export type MqttWill = NonNullable<IClientOptions['will']>;
type TlsFile = 'ca' | 'cert' | 'key';

export interface MqttConnectionOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  /** PEM contents, or a path read on every attempt (so a renewed certificate is picked up). */
  ca?: Buffer | string | undefined;
  cert?: Buffer | string | undefined;
  key?: Buffer | string | undefined;
  keepaliveS: number;
  connectTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** The default bound on a publish: mqtt.js may never call back when the link drops mid-flight. */
  publishTimeoutMs: number;
  /** The will of the next attempt, asked for once per attempt before its CONNECT (Sparkplug: a new bdSeq). */
  will: () => MqttWill;
  /** Names this connection in its log lines: `MQTT`, `Sparkplug MQTT`. */
  label: string;
  /** The setting a TLS file came from, for the error when it cannot be read: `mqtt.ca`. */
  setting: (file: TlsFile) => string;
}

/** Last messages on a clean stop, before the DISCONNECT (after which the broker drops the will). */
export interface Farewell {
  /** What is sent, for the log line when it is not: `the stopped status`. */
  what: string;
  send(): Promise<void>;
}

type Listener = () => void;
type MessageListener = (topic: string, payload: Buffer, meta: MessageMeta) => void;
type SubscribeCallback = (err: Error | null, granted: ISubscriptionGrant[]) => void;

/**
 * One connection to the broker, kept up. mqtt.js's own reconnect is off: every attempt gets a fresh client,
 * so a message mqtt.js still held from a dead connection is never resent behind our back (the outbox is the
 * only resend queue), each attempt can carry a will of its own, and attempts back off exponentially with
 * jitter on the injected clock. Nothing from an older client (message, SUBACK, close) reaches the users.
 */
export class MqttConnection {
  private client: MqttClient | undefined;
  private attempt = 0;
  private retryTimer: TimerHandle | undefined;
  private liveTimer: TimerHandle | undefined;
  /** When the current session last received anything from the broker (a PUBACK, a PINGRESP, a message). */
  private lastHeardAt = 0;
  private closing = false;
  private status: MqttConnectionStatus;
  private readonly upListeners = new Set<Listener>();
  private readonly downListeners = new Set<Listener>();
  private readonly messageListeners = new Set<MessageListener>();

  constructor(
    private readonly options: MqttConnectionOptions,
    private readonly deps: {
      clock: Clock;
      log: Logger;
      metrics?: Pick<AgentMetrics, 'mqttConnected' | 'mqttReconnects'>;
    },
  ) {
    this.status = {
      connected: false,
      url: redactUrl(options.url),
      lastError: null,
      connectedSince: null,
      reconnects: 0,
    };
  }

  get connected(): boolean {
    return this.status.connected;
  }

  get lastError(): string | null {
    return this.status.lastError;
  }

  get reconnects(): number {
    return this.status.reconnects;
  }

  snapshot(): MqttConnectionStatus {
    return { ...this.status };
  }

  /** The session is up (CONNACK); fired before anything else learns of it, so subscribe here. */
  onUp(fn: Listener): void {
    this.upListeners.add(fn);
  }

  /** A session that was up has ended (link lost, dropped, closed). */
  onDown(fn: Listener): void {
    this.downListeners.add(fn);
  }

  onMessage(fn: MessageListener): void {
    this.messageListeners.add(fn);
  }

  /** The first attempt now; later ones follow by themselves until `close()`. */
  open(): void {
    this.closing = false;
    this.connect();
  }

  /** Resolves on PUBACK (QoS 1) or once written (QoS 0); rejects when not connected or on the timeout. */
  publish(
    topic: string,
    payload: string | Buffer,
    opts: { qos: 0 | 1; retain?: boolean },
    timeoutMs = this.options.publishTimeoutMs,
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
    // clock) bounds the wait; an ack arriving later is ignored and the outbox sends the decision again
    const what = opts.qos ? 'PUBACK' : 'write';
    return clockTimeout(
      sent,
      timeoutMs,
      this.deps.clock,
      () => new AgentError(ErrorCodes.MQTT_PUBLISH_TIMEOUT, `no ${what} within ${timeoutMs} ms on ${topic}`),
    );
  }

  /** Subscribes on this session; `done` is not called when the SUBACK comes for a session already gone. */
  subscribe(filters: ISubscriptionMap, done: SubscribeCallback): void {
    const client = this.client;
    if (!client || !this.status.connected) {
      done(new AgentError(ErrorCodes.MQTT_CONNECT, 'not connected to the broker'), []);
      return;
    }
    client.subscribe(filters, (err, granted) => {
      if (this.client === client) done(err ?? null, granted ?? []);
    });
  }

  /** Ends this session as if the link were lost (down fires) and schedules the next attempt. */
  drop(): void {
    if (this.client) this.abandon(this.client);
  }

  /**
   * No further attempts. While the session is up the farewell goes first, then a clean DISCONNECT. Each is
   * bounded in real time as well: shutdown must not wait on a clock a test holds still.
   */
  async close(timeoutMs: number, farewell?: Farewell): Promise<void> {
    this.closing = true;
    if (this.retryTimer !== undefined) this.deps.clock.clearTimeout(this.retryTimer);
    const client = this.client;
    if (!client) return;
    if (farewell && this.status.connected) {
      await withTimeout(farewell.send(), timeoutMs, () => new Error(`no PUBACK for ${farewell.what}`)).catch(
        (err: unknown) => this.deps.log.warn({ err }, `could not publish ${farewell.what}`),
      );
    }
    await withTimeout(client.endAsync(), timeoutMs, () => new Error('disconnect timed out')).catch(() =>
      client.end(true),
    );
    this.markDown();
  }

  private connect(): void {
    if (this.closing) return;
    let options: IClientOptions;
    try {
      options = this.clientOptions();
    } catch (err) {
      this.status.lastError = describeError(err);
      this.deps.log.error({ err }, `${this.options.label} settings unusable; retrying with backoff`);
      this.scheduleRetry();
      return;
    }
    const client = mqtt.connect(this.options.url, options);
    this.client = client;
    client.on('packetreceive', () => {
      if (this.client === client) this.lastHeardAt = this.deps.clock.now();
    });
    client.on('connect', () => {
      this.attempt = 0;
      this.lastHeardAt = this.deps.clock.now();
      this.watchLiveness(client);
      this.status = {
        ...this.status,
        connected: true,
        lastError: null,
        connectedSince: this.deps.clock.now(),
      };
      this.deps.metrics?.mqttConnected.set(1);
      for (const fn of this.upListeners) fn();
    });
    client.on('message', (topic, payload, packet) => {
      if (this.client !== client) return;
      const meta = { retain: packet.retain };
      for (const fn of this.messageListeners) fn(topic, payload, meta);
    });
    client.on('error', (err) => {
      const message = explainMqttError(err);
      // a broker that stays away would log this every retry: say it once per distinct error
      if (message !== this.status.lastError) {
        const code = (err as { code?: unknown }).code;
        this.deps.log.warn({ err: { message, code } }, `${this.options.label} error; retrying with backoff`);
      }
      this.status.lastError = message;
    });
    client.on('close', () => this.abandon(client));
  }

  /**
   * MQTT keepalive on the injected clock: mqtt.js pings a broker it has heard nothing from for `keepaliveS`
   * (on its own timers); a session that has heard nothing, not even a PINGRESP, for 1.5 x keepaliveS is
   * dead (a paused or vanished broker whose TCP connection stays open: `connected` would stay true forever)
   * and is given up, as the MQTT spec has the broker do with a silent client.
   */
  private watchLiveness(client: MqttClient): void {
    const limitMs = this.options.keepaliveS * 1_500;
    const everyMs = Math.max(100, this.options.keepaliveS * 250);
    const check = () => {
      this.liveTimer = undefined;
      if (this.client !== client || !this.status.connected) return;
      const silentMs = this.deps.clock.now() - this.lastHeardAt;
      if (silentMs > limitMs) {
        const why = `no packet from the broker for ${Math.round(silentMs / 1000)} s (keepalive ${this.options.keepaliveS} s)`;
        this.giveUp(client, why);
        return;
      }
      this.liveTimer = this.deps.clock.setTimeout(check, everyMs);
    };
    this.liveTimer = this.deps.clock.setTimeout(check, everyMs);
  }

  /** A session that stopped answering: said why, dropped, and a fresh attempt scheduled. */
  private giveUp(client: MqttClient, why: string): void {
    this.status.lastError = `${why}: connection dropped`;
    this.deps.log.warn({ url: this.status.url }, `${this.options.label}: ${why}; dropping the connection`);
    this.abandon(client);
  }

  /** This client is gone or unusable: forget it (a late SUBACK from it is ignored) and try again later. */
  private abandon(client: MqttClient): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.removeAllListeners('close');
    client.end(true);
    this.markDown();
    this.scheduleRetry();
  }

  private markDown(): void {
    if (this.liveTimer !== undefined) {
      this.deps.clock.clearTimeout(this.liveTimer);
      this.liveTimer = undefined;
    }
    if (!this.status.connected) return;
    this.status = { ...this.status, connected: false, connectedSince: null };
    this.deps.metrics?.mqttConnected.set(0);
    for (const fn of this.downListeners) fn();
  }

  private scheduleRetry(): void {
    if (this.closing) return;
    const { reconnectMinMs, reconnectMaxMs } = this.options;
    const delay = backoffDelay(this.attempt++, reconnectMinMs, reconnectMaxMs);
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.status.reconnects++;
      this.deps.metrics?.mqttReconnects.inc();
      this.connect();
    }, delay);
  }

  private clientOptions(): IClientOptions {
    const o = this.options;
    // the will first: Sparkplug's bdSeq moves on with every attempt, even one whose files cannot be read
    const will = o.will();
    const ca = this.readTlsFile('ca');
    const cert = this.readTlsFile('cert');
    const key = this.readTlsFile('key');
    return {
      clientId: o.clientId,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      keepalive: o.keepaliveS,
      queueQoSZero: false,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      will,
    };
  }

  /** A Buffer as given, or the file at the path read now. */
  private readTlsFile(file: TlsFile): Buffer | undefined {
    const value = this.options[file];
    if (value === undefined || value === '') return undefined;
    if (Buffer.isBuffer(value)) return value;
    try {
      return readFileSync(value);
    } catch (err) {
      const message = `cannot read ${this.options.setting(file)} ${value}: ${describeError(err)}`;
      throw new AgentError(ErrorCodes.MQTT_CONNECT, message, { cause: err });
    }
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
