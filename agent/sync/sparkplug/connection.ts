import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { AgentError, describeError, ErrorCodes } from '../../errors.js';
import { backoffDelay, type Clock, type TimerHandle, withTimeout } from '../../service.js';
import { explainMqttError } from '../mqtt-errors.js';
import { redactUrl } from '../mqtt-link.js';
import { BdSeqFile, readPem, SPARKPLUG_DEFAULTS, type SparkplugOptions } from './options.js';
import { encode, nodeDeath, type SparkplugPayload, type SparkplugTopics } from './payloads.js';

export interface SessionEvents {
  /** The session is up and NCMD/DCMD (and STATE) are subscribed: births may follow now, not before. */
  ready(): void;
  /** A message on this session's subscriptions (never one from an older client). */
  message(topic: string, payload: Buffer): void;
  /** The session ended (link lost, broker gone, subscriptions refused); a new attempt is scheduled. */
  lost(): void;
}

/**
 * The MQTT side of the edge node. mqtt.js's reconnect is off: every attempt is a fresh client whose will
 * (NDEATH) carries that attempt's bdSeq, so the will in force and the NBIRTH always agree, a message mqtt.js
 * held from a dead connection is never resent behind the outbox's back, and attempts back off with jitter.
 */
export class SparkplugConnection {
  private client: MqttClient | undefined;
  private readonly bdSeqFile: BdSeqFile;
  private currentBdSeq: number | null = null;
  private subscribedNow = false;
  private attempt = 0;
  private retryTimer: TimerHandle | undefined;
  private closing = false;
  reconnects = 0;
  lastError: string | null = null;

  constructor(
    private readonly options: SparkplugOptions,
    private readonly topics: SparkplugTopics,
    private readonly events: SessionEvents,
    private readonly deps: { clock: Clock; log: Logger },
  ) {
    this.bdSeqFile = new BdSeqFile(options.bdSeqFile);
  }

  /** The bdSeq of the will in force (null before the first attempt). */
  get bdSeq(): number | null {
    return this.currentBdSeq;
  }

  get session(): boolean {
    return this.client?.connected ?? false;
  }

  get subscribed(): boolean {
    return this.subscribedNow;
  }

  open(): void {
    this.closing = false;
    this.connect();
  }

  /** Resolves on PUBACK (QoS 1) or once written (QoS 0), bounded: mqtt.js may never call back. */
  publish(
    topic: string,
    payload: SparkplugPayload,
    qos: 0 | 1,
    timeoutMs = this.options.publishTimeoutMs ?? SPARKPLUG_DEFAULTS.publishTimeoutMs,
  ): Promise<void> {
    const client = this.client;
    if (!client?.connected) {
      return Promise.reject(new AgentError(ErrorCodes.MQTT_CONNECT, 'Sparkplug session is down'));
    }
    const sent = new Promise<void>((resolve, reject) => {
      client.publish(topic, encode(payload), { qos, retain: false }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
    const what = qos ? 'PUBACK' : 'write';
    return withTimeout(
      sent,
      timeoutMs,
      () => new AgentError(ErrorCodes.MQTT_PUBLISH_TIMEOUT, `no ${what} within ${timeoutMs} ms on ${topic}`),
    );
  }

  /** A clean DISCONNECT (the broker then discards the will), bounded; no further attempts. */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.retryTimer !== undefined) this.deps.clock.clearTimeout(this.retryTimer);
    const client = this.client;
    if (!client) return;
    this.subscribedNow = false;
    await withTimeout(client.endAsync(), timeoutMs, () => new Error('disconnect timed out')).catch(() =>
      client.end(true),
    );
  }

  private connect(): void {
    if (this.closing) return;
    const { value, error } = this.bdSeqFile.advance();
    if (error) {
      const path = this.bdSeqFile.path;
      this.deps.log.error({ err: error, path }, 'cannot persist bdSeq; a restart may reuse it');
    }
    this.currentBdSeq = value;
    this.subscribedNow = false;
    let options: IClientOptions;
    try {
      options = this.clientOptions(value);
    } catch (err) {
      this.lastError = describeError(err);
      this.deps.log.error({ err }, 'Sparkplug settings unusable; retrying');
      this.scheduleRetry();
      return;
    }
    const client = mqtt.connect(this.options.url, options);
    this.client = client;
    client.on('connect', () => this.onConnect(client));
    client.on('message', (topic, payload) => {
      if (this.client === client) this.events.message(topic, payload);
    });
    client.on('error', (err) => {
      const message = explainMqttError(err);
      // a broker that stays away would log this every retry: say it once per distinct error
      if (message !== this.lastError) {
        const code = (err as { code?: unknown }).code;
        this.deps.log.warn({ err: { message, code } }, 'Sparkplug MQTT error; retrying with backoff');
      }
      this.lastError = message;
    });
    client.on('close', () => this.drop(client));
  }

  /** Spec order: subscribe to commands at QoS 1 and wait for the SUBACK before any birth. */
  private onConnect(client: MqttClient): void {
    this.attempt = 0;
    this.lastError = null;
    this.deps.log.info(
      { url: redactUrl(this.options.url), bdSeq: this.currentBdSeq },
      'Sparkplug session up',
    );
    const filters: Record<string, { qos: 1 }> = {
      [this.topics.ncmd]: { qos: 1 },
      [this.topics.dcmd]: { qos: 1 },
    };
    if (this.topics.state) filters[this.topics.state] = { qos: 1 };
    client.subscribe(filters, (err, granted) => {
      if (this.client !== client) return;
      // 128 is a refusal: without NCMD a host could never ask for a rebirth
      if (err || granted?.some((g) => g.qos !== 0 && g.qos !== 1)) {
        this.deps.log.error({ err }, 'Sparkplug subscriptions refused; reconnecting');
        this.drop(client);
        return;
      }
      this.subscribedNow = true;
      this.events.ready();
    });
  }

  /** The session is gone or unusable: forget this client and try again, with a new bdSeq. */
  private drop(client: MqttClient): void {
    if (this.client !== client) return;
    client.removeAllListeners('close');
    client.end(true);
    this.subscribedNow = false;
    this.events.lost();
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closing) return;
    const min = this.options.reconnectMinMs ?? SPARKPLUG_DEFAULTS.reconnectMinMs;
    const max = this.options.reconnectMaxMs ?? SPARKPLUG_DEFAULTS.reconnectMaxMs;
    this.retryTimer = this.deps.clock.setTimeout(
      () => {
        this.reconnects++;
        this.connect();
      },
      backoffDelay(this.attempt++, min, max),
    );
  }

  private clientOptions(bdSeq: number): IClientOptions {
    const o = this.options;
    const ca = readPem(o.ca, 'ca');
    const cert = readPem(o.cert, 'cert');
    const key = readPem(o.key, 'key');
    return {
      // a client id of its own, so this session never kicks the JSON link (same broker) off
      clientId: `${o.clientId ?? `edge-agent-${o.edgeNodeId}`}-spb`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs ?? SPARKPLUG_DEFAULTS.connectTimeoutMs,
      keepalive: o.keepaliveS ?? SPARKPLUG_DEFAULTS.keepaliveS,
      queueQoSZero: false,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      will: { topic: this.topics.ndeath, payload: encode(nodeDeath(bdSeq)), qos: 1, retain: false },
    };
  }
}
