import type { Logger } from 'pino';
import type { Clock } from '../../service.js';
import { MqttConnection, redactUrl } from '../mqtt-connection.js';
import { BdSeqFile, SPARKPLUG_DEFAULTS, type SparkplugOptions } from './options.js';
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
 * The MQTT side of the edge node, on its own `MqttConnection`: every attempt is a fresh client whose will
 * (NDEATH) carries that attempt's bdSeq, so the will in force and the NBIRTH always agree.
 */
export class SparkplugConnection {
  private readonly connection: MqttConnection;
  private readonly bdSeqFile: BdSeqFile;
  private currentBdSeq: number | null = null;
  private subscribedNow = false;

  constructor(
    private readonly options: SparkplugOptions,
    private readonly topics: SparkplugTopics,
    private readonly events: SessionEvents,
    private readonly deps: { clock: Clock; log: Logger },
  ) {
    this.bdSeqFile = new BdSeqFile(options.bdSeqFile);
    const d = SPARKPLUG_DEFAULTS;
    this.connection = new MqttConnection(
      {
        url: options.url,
        // a client id of its own, so this session never kicks the JSON link (same broker) off
        clientId: `${options.clientId ?? `edge-agent-${options.edgeNodeId}`}-spb`,
        username: options.username,
        password: options.password,
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        keepaliveS: options.keepaliveS ?? d.keepaliveS,
        connectTimeoutMs: options.connectTimeoutMs ?? d.connectTimeoutMs,
        reconnectMinMs: options.reconnectMinMs ?? d.reconnectMinMs,
        reconnectMaxMs: options.reconnectMaxMs ?? d.reconnectMaxMs,
        publishTimeoutMs: options.publishTimeoutMs ?? d.publishTimeoutMs,
        will: () => this.nextWill(),
        label: 'Sparkplug MQTT',
        setting: (file) => `sparkplug ${file}`,
      },
      deps,
    );
    this.connection.onUp(() => this.subscribe());
    this.connection.onMessage((topic, payload) => events.message(topic, payload));
    this.connection.onDown(() => {
      this.subscribedNow = false;
      events.lost();
    });
  }

  /** The bdSeq of the will in force (null before the first attempt). */
  get bdSeq(): number | null {
    return this.currentBdSeq;
  }

  get session(): boolean {
    return this.connection.connected;
  }

  get subscribed(): boolean {
    return this.subscribedNow;
  }

  get reconnects(): number {
    return this.connection.reconnects;
  }

  get lastError(): string | null {
    return this.connection.lastError;
  }

  open(): void {
    this.connection.open();
  }

  /** Resolves on PUBACK (QoS 1) or once written (QoS 0), bounded: mqtt.js may never call back. */
  publish(topic: string, payload: SparkplugPayload, qos: 0 | 1, timeoutMs?: number): Promise<void> {
    return this.connection.publish(topic, encode(payload), { qos }, timeoutMs);
  }

  /** A clean DISCONNECT (the broker then discards the will), bounded; no further attempts. */
  async close(timeoutMs: number): Promise<void> {
    this.subscribedNow = false;
    await this.connection.close(timeoutMs);
  }

  /** Spec: bdSeq +1 per CONNECT, persisted before the CONNECT that carries it; the will is that NDEATH. */
  private nextWill() {
    const { value, error } = this.bdSeqFile.advance();
    if (error) {
      const path = this.bdSeqFile.path;
      this.deps.log.error({ err: error, path }, 'cannot persist bdSeq; a restart may reuse it');
    }
    this.currentBdSeq = value;
    this.subscribedNow = false;
    return { topic: this.topics.ndeath, payload: encode(nodeDeath(value)), qos: 1 as const, retain: false };
  }

  /** Spec order: subscribe to commands at QoS 1 and wait for the SUBACK before any birth. */
  private subscribe(): void {
    this.deps.log.info(
      { url: redactUrl(this.options.url), bdSeq: this.currentBdSeq },
      'Sparkplug session up',
    );
    const filters: Record<string, { qos: 1 }> = {
      [this.topics.ncmd]: { qos: 1 },
      [this.topics.dcmd]: { qos: 1 },
    };
    if (this.topics.state) filters[this.topics.state] = { qos: 1 };
    this.connection.subscribe(filters, (err, granted) => {
      // 128 is a refusal: without NCMD a host could never ask for a rebirth
      if (err || granted.some((g) => g.qos !== 0 && g.qos !== 1)) {
        this.deps.log.error({ err }, 'Sparkplug subscriptions refused; reconnecting');
        this.connection.drop();
        return;
      }
      this.subscribedNow = true;
      this.events.ready();
    });
  }
}
