import type { Logger } from 'pino';
import type { Decision } from '../../decision/index.js';
import type { DriftReport } from '../../drift/index.js';
import { AgentError, ErrorCodes } from '../../errors.js';
import type { Clock, Service } from '../../service.js';
import type { DeliveryChannel } from '../channel.js';
import { redactUrl } from '../mqtt-link.js';
import { SparkplugConnection } from './connection.js';
import { assertSparkplugOptions, SPARKPLUG_DEFAULTS, type SparkplugOptions } from './options.js';
import {
  commandMetrics,
  decisionData,
  deviceBirth,
  deviceDeath,
  driftData,
  isRebirth,
  NODE_METRICS,
  nodeBirth,
  nodeDeath,
  parseHostState,
  type SparkplugMetric,
  type SparkplugPayload,
  type SparkplugTopics,
  sparkplugTopics,
} from './payloads.js';

/**
 * What the edge node says and hears beyond decisions (sparkplug/commands.ts): metrics added to the NBIRTH
 * and every DBIRTH, and the NCMD/DCMD metrics other than `Node Control/Rebirth`.
 */
export interface SparkplugExtension {
  nodeMetrics(now: number): SparkplugMetric[];
  deviceMetrics(deviceId: string, now: number): SparkplugMetric[];
  command(deviceId: string | undefined, metrics: SparkplugMetric[]): void;
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

/** Deaths on a clean stop, and the disconnect after them, get this long each, so shutdown never hangs. */
const STOP_PUBLISH_MS = 2_000;

/**
 * The agent as a Sparkplug B 3.0 edge node: NBIRTH/DBIRTHs once the session is subscribed (and, with STATE
 * gating, once the primary host is online), one DDATA per decision, DDEATHs and NDEATH on a clean stop.
 * Births go out in one synchronous burst, so no DDATA slips between NBIRTH and the DBIRTHs and the node-wide
 * seq (NBIRTH 0, then +1 mod 256 per message, NDEATH excluded) matches the order on the wire.
 */
export class SparkplugChannel implements Service, DeliveryChannel {
  readonly name = 'sparkplug';
  private readonly topics: SparkplugTopics;
  private readonly conn: SparkplugConnection;
  private readonly devices: Set<string>;
  private readonly upListeners = new Set<Listener>();
  private readonly downListeners = new Set<Listener>();
  private seq = 0;
  private born = false;
  private hostOnline = false;
  private hostTimestamp: number | null = null;
  private extension: SparkplugExtension | undefined;

  constructor(
    private readonly options: SparkplugOptions,
    private readonly deps: { clock: Clock; log: Logger },
  ) {
    this.topics = sparkplugTopics(options.groupId, options.edgeNodeId, options.primaryHostId);
    this.devices = new Set(options.deviceIds);
    this.conn = new SparkplugConnection(
      options,
      this.topics,
      {
        ready: () => this.onReady(),
        message: (topic, payload) => this.onMessage(topic, payload),
        lost: () => this.onLost(),
      },
      deps,
    );
  }

  get connected(): boolean {
    return this.born;
  }

  snapshot(): SparkplugStatus {
    return {
      connected: this.born,
      session: this.conn.session,
      subscribed: this.conn.subscribed,
      bdSeq: this.conn.bdSeq,
      hostOnline: this.topics.state ? this.hostOnline : null,
      hostTimestamp: this.hostTimestamp,
      url: redactUrl(this.options.url),
      lastError: this.conn.lastError,
      reconnects: this.conn.reconnects,
    };
  }

  onUp(fn: Listener): void {
    this.upListeners.add(fn);
  }

  /** Commands and the metrics that answer them (sparkplug/commands.ts); births from now on carry them. */
  extend(extension: SparkplugExtension | undefined): void {
    this.extension = extension;
  }

  /**
   * NDATA (no device) or DDATA with these metrics, QoS 0 as the spec has it; nothing while not born (the
   * next births carry the current values).
   */
  publishData(deviceId: string | undefined, metrics: SparkplugMetric[]): void {
    if (!this.born || metrics.length === 0) return;
    if (deviceId !== undefined && !this.devices.has(deviceId)) return;
    const topic = deviceId === undefined ? this.topics.ndata : this.topics.ddata(deviceId);
    const payload: SparkplugPayload = { timestamp: this.deps.clock.now(), seq: this.nextSeq(), metrics };
    this.conn
      .publish(topic, payload, 0)
      .catch((err: unknown) => this.deps.log.warn({ err, topic }, 'Sparkplug data not sent'));
  }

  onDown(fn: Listener): void {
    this.downListeners.add(fn);
  }

  async start(signal: AbortSignal): Promise<void> {
    assertSparkplugOptions(this.options);
    if (!signal.aborted) this.conn.open();
  }

  /** DDEATH per device and an explicit NDEATH (a clean DISCONNECT discards the will), then disconnect. */
  async stop(): Promise<void> {
    const wasBorn = this.born;
    this.markDown(); // first, so no DDATA follows a DDEATH
    const bdSeq = this.conn.bdSeq;
    if (this.conn.session && bdSeq !== null) {
      const now = this.deps.clock.now();
      const deaths = wasBorn
        ? [...this.devices].map((d) =>
            this.conn.publish(this.topics.ddeath(d), deviceDeath(this.nextSeq(), now), 0, STOP_PUBLISH_MS),
          )
        : [];
      deaths.push(this.conn.publish(this.topics.ndeath, nodeDeath(bdSeq, now), 1, STOP_PUBLISH_MS));
      const failed = (await Promise.allSettled(deaths)).filter((r) => r.status === 'rejected').length;
      if (failed > 0) this.deps.log.warn({ failed }, 'some Sparkplug death messages were not sent');
    }
    await this.conn.close(STOP_PUBLISH_MS);
  }

  async deliver(decision: Decision, historical: boolean): Promise<void> {
    if (!this.born) {
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
      this.publishBirth(this.topics.dbirth(device), this.deviceBirth(device));
    }
    const qos = this.options.ddataQos ?? SPARKPLUG_DEFAULTS.ddataQos;
    const payload = decisionData(decision, historical, this.nextSeq(), this.deps.clock.now());
    await this.conn.publish(this.topics.ddata(device), payload, qos);
  }

  /**
   * A drift window report as DDATA `Drift/...` on the camera's device (QoS as decisions). Only while born
   * and only for a device already born: drift is a state, and the next report carries it.
   */
  async publishDrift(report: DriftReport): Promise<void> {
    if (!this.born || !this.options.driftMetrics || !this.devices.has(report.cameraId)) return;
    const qos = this.options.ddataQos ?? SPARKPLUG_DEFAULTS.ddataQos;
    const payload = driftData(report, this.nextSeq(), this.deps.clock.now());
    await this.conn.publish(this.topics.ddata(report.cameraId), payload, qos);
  }

  private deviceBirth(device: string) {
    const now = this.deps.clock.now();
    return this.withExtension(
      deviceBirth(this.nextSeq(), now, this.options.driftMetrics === true),
      now,
      device,
    );
  }

  private onReady(): void {
    // with gating, the births wait for the host's (retained) STATE, which follows the SUBACK
    if (!this.topics.state || this.hostOnline) this.birth();
  }

  private onLost(): void {
    this.hostOnline = false; // known online only once its STATE arrives on the next session
    this.markDown();
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.topics.state) {
      this.onHostState(payload);
    } else {
      const device = topic === this.topics.ncmd ? undefined : topic.split('/')[4];
      let metrics: SparkplugMetric[];
      try {
        metrics = commandMetrics(payload);
      } catch (err) {
        this.deps.log.warn({ err, topic }, 'malformed command ignored');
        return;
      }
      // while not born (host offline), the next birth comes by itself
      if (device === undefined && isRebirth(metrics) && this.born) {
        this.deps.log.info('rebirth requested by a host');
        this.birth();
      }
      const rest = metrics.filter((m) => m.name !== NODE_METRICS.rebirth);
      if (rest.length > 0 && this.extension) this.extension.command(device, rest);
      else if (rest.length > 0) this.deps.log.debug({ topic }, 'command ignored: no writable metrics');
    }
  }

  private onHostState(payload: Buffer): void {
    const host = this.options.primaryHostId;
    const state = parseHostState(payload);
    if (!state) {
      this.deps.log.warn({ host }, 'primary host STATE is not Sparkplug 3.0 JSON; ignored');
      return;
    }
    // a stale STATE (an older host session's, delivered late) must not flip us
    if (this.hostTimestamp !== null && state.timestamp < this.hostTimestamp) return;
    const newHostSession = state.timestamp !== this.hostTimestamp;
    this.hostTimestamp = state.timestamp;
    this.hostOnline = state.online;
    if (!this.conn.subscribed) return;
    if (state.online && (!this.born || newHostSession)) {
      // a host that came back (or restarted) holds no births from us: send them
      this.birth();
    } else if (!state.online && this.born) {
      this.deps.log.warn({ host }, 'primary host offline; decisions stay queued');
      this.markDown();
    }
  }

  /** NBIRTH (seq 0, the bdSeq of the will in force) then one DBIRTH per device. Rebirths keep the bdSeq. */
  private birth(): void {
    const bdSeq = this.conn.bdSeq;
    if (bdSeq === null) return;
    const now = this.deps.clock.now();
    this.seq = 0;
    this.publishBirth(this.topics.nbirth, this.withExtension(nodeBirth(bdSeq, this.nextSeq(), now), now));
    for (const device of this.devices) {
      this.publishBirth(
        this.topics.dbirth(device),
        this.withExtension(deviceBirth(this.nextSeq(), now, this.options.driftMetrics === true), now, device),
      );
    }
    if (this.born) return;
    this.born = true;
    this.deps.log.info({ bdSeq, devices: this.devices.size }, 'Sparkplug edge node born');
    this.notify(this.upListeners);
  }

  private withExtension(birth: SparkplugPayload, now: number, deviceId?: string): SparkplugPayload {
    const ext = this.extension;
    if (!ext) return birth;
    const more = deviceId === undefined ? ext.nodeMetrics(now) : ext.deviceMetrics(deviceId, now);
    return { ...birth, metrics: [...(birth.metrics ?? []), ...more] };
  }

  /** Births are QoS 0 (spec); a lost one surfaces as a host rebirth request, so failures are only logged. */
  private publishBirth(topic: string, payload: SparkplugPayload): void {
    this.conn
      .publish(topic, payload, 0)
      .catch((err: unknown) => this.deps.log.warn({ err, topic }, 'Sparkplug birth not sent'));
  }

  private nextSeq(): number {
    const seq = this.seq;
    this.seq = (seq + 1) & 0xff;
    return seq;
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
}
