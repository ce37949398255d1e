import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Decision } from '../../decision/index.js';
import { AgentError, describeError, ErrorCodes } from '../../errors.js';
import { backoffDelay, type Clock, type Service, type TimerHandle, withTimeout } from '../../service.js';
import { redactUrl } from '../mqtt-link.js';
import {
  assertSparkplugOptions,
  BdSeqFile,
  readPem,
  SPARKPLUG_DEFAULTS,
  type SparkplugOptions,
} from './options.js';
import {
  decisionData,
  deviceBirth,
  deviceDeath,
  encode,
  isRebirthRequest,
  nodeBirth,
  nodeDeath,
  parseHostState,
  type SparkplugPayload,
  type SparkplugTopics,
  sparkplugTopics,
} from './payloads.js';

export interface DeliveryChannel {
  readonly name: string; // 'sparkplug'
  readonly connected: boolean;
  onUp(fn: () => void): void; // after NBIRTH + DBIRTHs are published on a (re)connect
  onDown(fn: () => void): void;
  /** Publishes one decision; resolves on PUBACK (QoS 1) or once written (QoS 0). */
  deliver(decision: Decision, historical: boolean): Promise<void>;
}

export interface SparkplugStatus {
  /** Born: births published and (with STATE gating) the primary host online; deliver() works. */
  connected: boolean;
  /** The MQTT session is up, births or not. */
  session: boolean;
  /** NCMD/DCMD (and STATE) subscriptions acknowledged on this session. */
  subscribed: boolean;
  bdSeq: number | null;
  hostOnline: boolean | null;
  hostTimestamp: number | null;
  url: string;
  lastError: string | null;
  reconnects: number;
}

type Listener = () => void;

/** Deaths on a clean stop get this long in all, so a stuck broker cannot hold up shutdown. */
const STOP_PUBLISH_MS = 2_000;

/**
 * The agent as a Sparkplug B 3.0 edge node on a connection of its own. mqtt.js's reconnect is off: each
 * attempt is a fresh client whose will (NDEATH) carries that attempt's bdSeq, so will and NBIRTH always agree.
 * Births are published in one synchronous burst, so no DDATA can slip between NBIRTH and the DBIRTHs and the
 * node-wide seq (NBIRTH 0, then +1 mod 256 per message) matches the order on the wire.
 */
export class SparkplugChannel implements Service, DeliveryChannel {
  readonly name = 'sparkplug';
  private readonly topics: SparkplugTopics;
  private readonly bdSeqFile: BdSeqFile;
  private readonly devices: Set<string>;
  private readonly upListeners = new Set<Listener>();
  private readonly downListeners = new Set<Listener>();
  private client: MqttClient | undefined;
  private bdSeq: number | null = null;
  private seq = 0;
  private born = false;
  private subscribed = false;
  private hostOnline = false;
  private hostTimestamp: number | null = null;
  private attempt = 0;
  private reconnects = 0;
  private lastError: string | null = null;
  private retryTimer: TimerHandle | undefined;
  private stopping = false;

  constructor(
    private readonly options: SparkplugOptions,
    private readonly deps: { clock: Clock; log: Logger },
  ) {
    this.topics = sparkplugTopics(options.groupId, options.edgeNodeId, options.primaryHostId);
    this.bdSeqFile = new BdSeqFile(options.bdSeqFile);
    this.devices = new Set(options.deviceIds);
  }

  get connected(): boolean {
    return this.born;
  }

  snapshot(): SparkplugStatus {
    const gated = this.options.primaryHostId !== undefined;
    return {
      connected: this.born,
      session: this.client?.connected ?? false,
      subscribed: this.subscribed,
      bdSeq: this.bdSeq,
      hostOnline: gated ? this.hostOnline : null,
      hostTimestamp: this.hostTimestamp,
      url: redactUrl(this.options.url),
      lastError: this.lastError,
      reconnects: this.reconnects,
    };
  }

  onUp(fn: Listener): void {
    this.upListeners.add(fn);
  }

  onDown(fn: Listener): void {
    this.downListeners.add(fn);
  }

  async start(signal: AbortSignal): Promise<void> {
    assertSparkplugOptions(this.options);
    if (!signal.aborted) this.connect();
  }

  /** DDEATH per device and an explicit NDEATH (a clean DISCONNECT discards the will), then disconnect. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer !== undefined) this.deps.clock.clearTimeout(this.retryTimer);
    const client = this.client;
    if (!client) return;
    const wasBorn = this.born;
    this.markDown(); // first, so no DDATA follows a DDEATH
    if (client.connected && this.bdSeq !== null) {
      const now = this.deps.clock.now();
      const deaths = wasBorn
        ? [...this.devices].map((d) =>
            this.send(client, this.topics.ddeath(d), deviceDeath(this.nextSeq(), now), 0),
          )
        : [];
      deaths.push(this.send(client, this.topics.ndeath, nodeDeath(this.bdSeq, now), 1, STOP_PUBLISH_MS));
      const results = await withTimeout(
        Promise.allSettled(deaths),
        STOP_PUBLISH_MS,
        () => new Error('timeout'),
      )
        .then((r) => r.filter((x) => x.status === 'rejected').length)
        .catch(() => deaths.length);
      if (results > 0) this.deps.log.warn({ failed: results }, 'some Sparkplug death messages were not sent');
    }
    await withTimeout(client.endAsync(), STOP_PUBLISH_MS, () => new Error('disconnect timed out')).catch(() =>
      client.end(true),
    );
  }

  async deliver(decision: Decision, historical: boolean): Promise<void> {
    const client = this.client;
    if (!client || !this.born) {
      throw new AgentError(
        ErrorCodes.MQTT_CONNECT,
        'Sparkplug edge node is not online; the decision stays queued',
      );
    }
    const device = decision.cameraId;
    if (!this.devices.has(device)) {
      // a camera added after the NBIRTH: births may come at any time, as long as they precede the data
      if (!/^[^/+#\s]+$/.test(device)) {
        throw new AgentError(
          ErrorCodes.MQTT_CONNECT,
          `camera id ${JSON.stringify(device)} is no Sparkplug device id`,
        );
      }
      this.devices.add(device);
      this.publishBirth(
        client,
        this.topics.dbirth(device),
        deviceBirth(this.nextSeq(), this.deps.clock.now()),
      );
    }
    const qos = this.options.ddataQos ?? SPARKPLUG_DEFAULTS.ddataQos;
    const payload = decisionData(decision, historical, this.nextSeq(), this.deps.clock.now());
    await this.send(client, this.topics.ddata(device), payload, qos);
  }

  private connect(): void {
    if (this.stopping) return;
    const { value, error } = this.bdSeqFile.advance();
    if (error) {
      this.deps.log.error(
        { err: error, path: this.bdSeqFile.path },
        'cannot persist bdSeq; a restart may reuse it',
      );
    }
    this.bdSeq = value;
    this.subscribed = false;
    this.hostOnline = false; // a host is online only once its STATE arrives on this session
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
    client.on('connect', () => this.onSession(client));
    client.on('message', (topic, payload) => this.onMessage(client, topic, payload));
    client.on('error', (err) => {
      const message = describeError(err);
      // a broker that stays away would log this every retry: say it once per distinct error
      if (message !== this.lastError) {
        this.deps.log.warn(
          { err: { message, code: (err as { code?: unknown }).code } },
          'Sparkplug MQTT error',
        );
      }
      this.lastError = message;
    });
    client.on('close', () => this.drop(client));
  }

  /** Spec order: subscribe to commands (QoS 1) and wait for the SUBACK before any birth. */
  private onSession(client: MqttClient): void {
    this.attempt = 0;
    this.lastError = null;
    this.deps.log.info({ url: redactUrl(this.options.url), bdSeq: this.bdSeq }, 'Sparkplug session up');
    const filters: Record<string, { qos: 1 }> = {
      [this.topics.ncmd]: { qos: 1 },
      [this.topics.dcmd]: { qos: 1 },
    };
    if (this.topics.state) filters[this.topics.state] = { qos: 1 };
    client.subscribe(filters, (err, granted) => {
      if (this.client !== client) return;
      if (err || granted?.some((g) => g.qos !== 1 && g.qos !== 0)) {
        this.deps.log.error({ err }, 'Sparkplug subscriptions refused; reconnecting');
        this.drop(client);
        return;
      }
      this.subscribed = true;
      if (!this.topics.state || this.hostOnline) this.birth(client);
    });
  }

  private onMessage(client: MqttClient, topic: string, payload: Buffer): void {
    if (this.client !== client) return;
    if (topic === this.topics.state) {
      this.onHostState(client, payload);
    } else if (topic === this.topics.ncmd) {
      let rebirth: boolean;
      try {
        rebirth = isRebirthRequest(payload);
      } catch (err) {
        this.deps.log.warn({ err, topic }, 'malformed NCMD ignored');
        return;
      }
      // while not born (host offline), the next birth comes by itself
      if (rebirth && this.born) {
        this.deps.log.info('rebirth requested by a host');
        this.birth(client);
      }
    } else {
      this.deps.log.debug({ topic }, 'DCMD ignored: cameras expose no writable metrics');
    }
  }

  private onHostState(client: MqttClient, payload: Buffer): void {
    const state = parseHostState(payload);
    if (!state) {
      this.deps.log.warn(
        { host: this.options.primaryHostId },
        'primary host STATE is not Sparkplug 3.0 JSON',
      );
      return;
    }
    // a stale STATE (an older host session's, delivered late) must not flip us
    if (this.hostTimestamp !== null && state.timestamp < this.hostTimestamp) return;
    const newSession = state.timestamp !== this.hostTimestamp;
    this.hostTimestamp = state.timestamp;
    this.hostOnline = state.online;
    if (!this.subscribed) return;
    if (state.online && (!this.born || newSession)) {
      // a host that came back (or restarted) has no births from us: send them
      this.birth(client);
    } else if (!state.online && this.born) {
      this.deps.log.warn({ host: this.options.primaryHostId }, 'primary host offline; decisions stay queued');
      this.markDown();
    }
  }

  /** NBIRTH (seq 0, the bdSeq of the will in force) then one DBIRTH per device. Rebirths keep the bdSeq. */
  private birth(client: MqttClient): void {
    if (this.bdSeq === null) return;
    const now = this.deps.clock.now();
    this.seq = 0;
    this.publishBirth(client, this.topics.nbirth, nodeBirth(this.bdSeq, this.nextSeq(), now));
    for (const device of this.devices) {
      this.publishBirth(client, this.topics.dbirth(device), deviceBirth(this.nextSeq(), now));
    }
    if (this.born) return;
    this.born = true;
    this.deps.log.info({ bdSeq: this.bdSeq, devices: this.devices.size }, 'Sparkplug edge node born');
    this.notify(this.upListeners);
  }

  /** Births are QoS 0 (spec); a lost one surfaces as a host rebirth request, so failures are only logged. */
  private publishBirth(client: MqttClient, topic: string, payload: SparkplugPayload): void {
    this.send(client, topic, payload, 0).catch((err: unknown) =>
      this.deps.log.warn({ err, topic }, 'Sparkplug birth not sent'),
    );
  }

  /** Resolves on PUBACK (QoS 1) or once written (QoS 0), bounded: mqtt.js may never call back. */
  private send(
    client: MqttClient,
    topic: string,
    payload: SparkplugPayload,
    qos: 0 | 1,
    timeoutMs = this.options.publishTimeoutMs ?? SPARKPLUG_DEFAULTS.publishTimeoutMs,
  ): Promise<void> {
    const sent = new Promise<void>((resolve, reject) => {
      client.publish(topic, encode(payload), { qos, retain: false }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
    return withTimeout(
      sent,
      timeoutMs,
      () =>
        new AgentError(
          ErrorCodes.MQTT_PUBLISH_TIMEOUT,
          `no ${qos ? 'PUBACK' : 'write'} within ${timeoutMs} ms on ${topic}`,
        ),
    );
  }

  private nextSeq(): number {
    const seq = this.seq;
    this.seq = (seq + 1) & 0xff;
    return seq;
  }

  /** The session is gone (or unusable): forget this client and try again with a new bdSeq. */
  private drop(client: MqttClient): void {
    if (this.client !== client) return;
    client.removeAllListeners('close');
    client.end(true);
    this.subscribed = false;
    this.markDown();
    this.scheduleRetry();
  }

  private markDown(): void {
    if (!this.born) return;
    this.born = false;
    this.deps.log.warn('Sparkplug edge node down; decisions wait in the store');
    this.notify(this.downListeners);
  }

  private notify(listeners: Set<Listener>): void {
    for (const fn of listeners) {
      try {
        fn();
      } catch (err) {
        this.deps.log.error({ err }, 'a Sparkplug up/down listener threw');
      }
    }
  }

  private scheduleRetry(): void {
    if (this.stopping) return;
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
