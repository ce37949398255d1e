import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  MQTT_PUBLISH_TIMEOUT_MS,
  MQTT_RECONNECT_MAX_MS,
  MQTT_RECONNECT_MIN_MS,
  SPARKPLUG_DDATA_QOS,
} from '../../config/index.js';
import { AgentError, ErrorCodes } from '../../errors.js';

/** What the Sparkplug edge node needs; the lead maps `mqtt.*`, `agent.id` and the camera ids onto it. */
export interface SparkplugOptions {
  url: string;
  username?: string;
  password?: string;
  /** PEM contents, or a path to read on every connect attempt (so a renewed certificate is picked up). */
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
  /** The agent's client id; this channel connects as `<clientId>-spb` so it never kicks the JSON link off. */
  clientId?: string;
  groupId: string;
  /** The edge node id: the agent id. */
  edgeNodeId: string;
  /** One Sparkplug device per camera. A decision for a camera not listed gets a DBIRTH on first use. */
  deviceIds: readonly string[];
  /** Where bdSeq survives restarts: a host must never see the same bdSeq twice in a row for two sessions. */
  bdSeqFile: string;
  /** Bounds the wait for a PUBACK (QoS 1) or a socket write (QoS 0): mqtt.js may never call back. */
  publishTimeoutMs?: number;
  /** When set, births and data wait for `spBv1.0/STATE/<primaryHostId>` to say the host is online. */
  primaryHostId?: string;
  /** 1 (default): deliver() resolves on PUBACK, the agent's guarantee. 0: the spec's QoS, resolved on write. */
  ddataQos?: 0 | 1;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Drift is configured: DBIRTHs carry the `Drift/...` metrics and drift reports go out as DDATA. */
  driftMetrics?: boolean;
  connectTimeoutMs?: number;
  keepaliveS?: number;
}

/** agent.yaml's `mqtt` defaults (config), and what the channel alone decides. */
export const SPARKPLUG_DEFAULTS = {
  publishTimeoutMs: MQTT_PUBLISH_TIMEOUT_MS,
  ddataQos: SPARKPLUG_DDATA_QOS,
  reconnectMinMs: MQTT_RECONNECT_MIN_MS,
  reconnectMaxMs: MQTT_RECONNECT_MAX_MS,
  connectTimeoutMs: 10_000,
  keepaliveS: 30,
} as const;

// Sparkplug ids are MQTT topic levels: the wildcards and the separator would change the topic's meaning
const TOPIC_LEVEL = /^[^/+#\s]+$/;

/** Every problem with the options at once (fastify style), empty when they are usable. */
export function checkSparkplugOptions(o: SparkplugOptions): string[] {
  const problems: string[] = [];
  if (!/^mqtts?:\/\/\S+$/.test(o.url)) problems.push('url must be an mqtt:// or mqtts:// URL');
  const level = (what: string, value: string | undefined) => {
    if (value === undefined || !TOPIC_LEVEL.test(value)) {
      problems.push(
        `${what} must be non-empty without "/", "+", "#" or spaces (got ${JSON.stringify(value)})`,
      );
    }
  };
  level('groupId', o.groupId);
  level('edgeNodeId', o.edgeNodeId);
  for (const id of o.deviceIds) level('deviceIds[]', id);
  if (new Set(o.deviceIds).size !== o.deviceIds.length) problems.push('deviceIds must be unique');
  if (o.primaryHostId !== undefined) level('primaryHostId', o.primaryHostId);
  if (!o.bdSeqFile) problems.push('bdSeqFile is required');
  if (o.ddataQos !== undefined && o.ddataQos !== 0 && o.ddataQos !== 1)
    problems.push('ddataQos must be 0 or 1');
  for (const key of ['publishTimeoutMs', 'reconnectMinMs', 'reconnectMaxMs', 'connectTimeoutMs'] as const) {
    const v = o[key];
    if (v !== undefined && !(Number.isInteger(v) && v > 0))
      problems.push(`${key} must be a positive integer`);
  }
  return problems;
}

export function assertSparkplugOptions(o: SparkplugOptions): void {
  const problems = checkSparkplugOptions(o);
  if (problems.length > 0) {
    throw new AgentError(ErrorCodes.CONFIG_INVALID, `sparkplug: ${problems.join('; ')}`);
  }
}

/**
 * The birth/death sequence number. Spec: +1 per CONNECT (0-255 wrap), starting at 0. It is written before the
 * CONNECT that carries it, so a crash right after connecting still never reuses it on the next start.
 */
export class BdSeqFile {
  private last: number | undefined;

  constructor(readonly path: string) {}

  /** The bdSeq for the next CONNECT; `error` says it could not be persisted (the value is still usable). */
  advance(): { value: number; error?: unknown } {
    if (this.last === undefined) this.last = this.load();
    const value = (this.last + 1) & 0xff;
    this.last = value;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      // write-then-rename: a power cut mid-write leaves the old value, never a torn file
      const tmp = `${this.path}.tmp`;
      writeFileSync(tmp, `${value}\n`);
      renameSync(tmp, this.path);
      return { value };
    } catch (error) {
      return { value, error };
    }
  }

  /** The last bdSeq used; -1 when none (so the first CONNECT uses 0) or when the file is unreadable. */
  private load(): number {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return -1; // first start: no file yet
    }
    const n = Number(text.trim());
    return Number.isInteger(n) && n >= 0 && n <= 255 ? n : -1;
  }
}
