import sparkplugPayload from 'sparkplug-payload';
import type { Decision } from '../../decision/index.js';
import { type DriftReport, STATS } from '../../drift/index.js';
import { AGENT_VERSION } from '../../version.js';

/** The protobuf codec of Sparkplug B (Eclipse Tahu's); only its encoder and decoder are used. */
const loaded = sparkplugPayload.get('spBv1.0');
if (!loaded) throw new Error('sparkplug-payload has no spBv1.0 codec');
export const codec = loaded;

export type SparkplugPayload = Parameters<typeof codec.encodePayload>[0];
export type SparkplugMetric = NonNullable<SparkplugPayload['metrics']>[number];
type MetricType = SparkplugMetric['type'];

export const NAMESPACE = 'spBv1.0';

/** Every topic one edge node uses, built once. */
export function sparkplugTopics(groupId: string, edgeNodeId: string, primaryHostId?: string) {
  const node = (kind: string) => `${NAMESPACE}/${groupId}/${kind}/${edgeNodeId}`;
  return {
    nbirth: node('NBIRTH'),
    ndeath: node('NDEATH'),
    ncmd: node('NCMD'),
    ndata: node('NDATA'),
    dcmd: `${node('DCMD')}/+`,
    dbirth: (deviceId: string) => `${node('DBIRTH')}/${deviceId}`,
    ddata: (deviceId: string) => `${node('DDATA')}/${deviceId}`,
    ddeath: (deviceId: string) => `${node('DDEATH')}/${deviceId}`,
    state: primaryHostId === undefined ? undefined : `${NAMESPACE}/STATE/${primaryHostId}`,
  };
}
export type SparkplugTopics = ReturnType<typeof sparkplugTopics>;

export const NODE_METRICS = {
  bdSeq: 'bdSeq',
  rebirth: 'Node Control/Rebirth',
  agentVersion: 'Properties/Agent Version',
} as const;

/**
 * The metrics of one camera device, in DDATA order. A host builds its tags from the DBIRTH, so this list is
 * the whole vocabulary: flat metrics for HMIs and historians, plus the full decision JSON so nothing is lost.
 */
export const DEVICE_METRICS = [
  { name: 'Decision/Id', type: 'String' },
  { name: 'Decision/Seq', type: 'UInt64' },
  { name: 'Decision/Verdict', type: 'String' },
  { name: 'Decision/PartId', type: 'String' },
  { name: 'Decision/Reason', type: 'String' },
  { name: 'Decision/Degraded', type: 'Boolean' },
  { name: 'Decision/LatencyMs', type: 'Double' },
  { name: 'Decision/CapturedAt', type: 'DateTime' },
  { name: 'Decision/Model', type: 'String' },
  { name: 'Decision/Json', type: 'String' },
] as const satisfies readonly { name: string; type: MetricType }[];

type DeviceMetricName = (typeof DEVICE_METRICS)[number]['name'];

/**
 * A camera's drift metrics (docs/drift.md), born with the device when drift is configured: the window
 * report's headline figures flat for HMIs, each statistic's window mean and breach, and the whole report.
 */
export const DRIFT_METRICS: readonly { name: string; type: MetricType }[] = [
  { name: 'Drift/Status', type: 'String' },
  { name: 'Drift/Window', type: 'UInt64' },
  { name: 'Drift/Decisions', type: 'UInt64' },
  { name: 'Drift/Baseline', type: 'String' },
  { name: 'Drift/Alerts', type: 'String' },
  { name: 'Drift/NgRate', type: 'Double' },
  { name: 'Drift/Accuracy', type: 'Double' },
  { name: 'Drift/Report', type: 'String' },
  ...STATS.flatMap((s) => [
    { name: `Drift/${s.name}/Value`, type: 'Double' as const },
    { name: `Drift/${s.name}/Breach`, type: 'Boolean' as const },
  ]),
];

/** One drift window report as DDATA: only the drift metrics, stamped with the report's time. */
export function driftData(r: DriftReport, seq: number, now: number): SparkplugPayload {
  const values = new Map<string, SparkplugMetric['value']>([
    ['Drift/Status', r.status],
    ['Drift/Window', r.window.index],
    ['Drift/Decisions', r.window.count],
    ['Drift/Baseline', r.baseline?.id ?? null],
    ['Drift/Alerts', r.alerts.join(',')],
    ['Drift/NgRate', r.means?.ngRate ?? null],
    ['Drift/Accuracy', r.outcomes?.accuracy ?? null],
    ['Drift/Report', JSON.stringify(r)],
  ]);
  for (const s of STATS) {
    values.set(`Drift/${s.name}/Value`, r.means?.[s.name] ?? null);
    const rows = r.statistics.filter((x) => x.name === s.name);
    values.set(`Drift/${s.name}/Breach`, rows.length ? rows.some((x) => x.breach) : null);
  }
  return {
    timestamp: now,
    seq,
    metrics: DRIFT_METRICS.map((m) => ({
      name: m.name,
      type: m.type,
      value: values.get(m.name) ?? null,
      timestamp: r.ts,
    })),
  };
}

function bdSeqMetric(bdSeq: number, timestamp?: number): SparkplugMetric {
  return { name: NODE_METRICS.bdSeq, type: 'Int64', value: bdSeq, ...(timestamp ? { timestamp } : {}) };
}

export function nodeBirth(bdSeq: number, seq: number, now: number): SparkplugPayload {
  return {
    timestamp: now,
    seq,
    metrics: [
      bdSeqMetric(bdSeq, now),
      { name: NODE_METRICS.rebirth, type: 'Boolean', value: false, timestamp: now },
      { name: NODE_METRICS.agentVersion, type: 'String', value: AGENT_VERSION, timestamp: now },
    ],
  };
}

/**
 * The NDEATH. As the will it is built at CONNECT time, so it carries no timestamp (one would be stale by the
 * time the broker sends it); the explicit NDEATH on a clean stop is stamped.
 */
export function nodeDeath(bdSeq: number, now?: number): SparkplugPayload {
  return { ...(now ? { timestamp: now } : {}), metrics: [bdSeqMetric(bdSeq, now)] };
}

/**
 * No decision yet: every metric is born null with its type, so hosts can create the tags; the drift
 * metrics too when drift is configured (a metric not in the birth may never be sent).
 */
export function deviceBirth(seq: number, now: number, drift = false): SparkplugPayload {
  const metrics = drift ? [...DEVICE_METRICS, ...DRIFT_METRICS] : DEVICE_METRICS;
  return {
    timestamp: now,
    seq,
    metrics: metrics.map((m) => ({ name: m.name, type: m.type, value: null, timestamp: now })),
  };
}

export function deviceDeath(seq: number, now: number): SparkplugPayload {
  return { timestamp: now, seq };
}

/** One decision as DDATA: metric timestamps are the decision time; backlog metrics carry is_historical. */
export function decisionData(d: Decision, historical: boolean, seq: number, now: number): SparkplugPayload {
  const values: Record<DeviceMetricName, SparkplugMetric['value']> = {
    'Decision/Id': d.id,
    'Decision/Seq': d.seq,
    'Decision/Verdict': d.verdict,
    'Decision/PartId': d.partId ?? null,
    'Decision/Reason': d.reason,
    'Decision/Degraded': d.degraded,
    'Decision/LatencyMs': d.latencyMs.total,
    'Decision/CapturedAt': d.capturedAt,
    'Decision/Model': d.model ? `${d.model.id}@${d.model.version}` : null,
    'Decision/Json': JSON.stringify({ ...d, historical }),
  };
  return {
    timestamp: now,
    seq,
    metrics: DEVICE_METRICS.map((m) => ({
      name: m.name,
      type: m.type,
      value: values[m.name],
      timestamp: d.decidedAt,
      ...(historical ? { isHistorical: true } : {}),
    })),
  };
}

export function isRebirth(metrics: readonly SparkplugMetric[]): boolean {
  return metrics.some((m) => m.name === NODE_METRICS.rebirth && m.value === true);
}

/** A command's metrics (NCMD, DCMD); at most MAX_COMMAND_METRICS of them. Throws on a malformed payload. */
export function commandMetrics(payload: Buffer): SparkplugMetric[] {
  return (codec.decodePayload(payload).metrics ?? []).slice(0, MAX_COMMAND_METRICS);
}

/** A host writes a few metrics per command; more is not a command worth reading through. */
export const MAX_COMMAND_METRICS = 32;

export interface HostState {
  online: boolean;
  timestamp: number;
}

/** A primary host's STATE message (Sparkplug 3.0 JSON); undefined when it is not one. */
export function parseHostState(payload: Buffer): HostState | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined; // 2.2-era hosts publish "ONLINE"/"OFFLINE" text: not 3.0, treated as unknown
  }
  const v = value as Partial<HostState> | null;
  if (typeof v?.online !== 'boolean' || typeof v.timestamp !== 'number') return undefined;
  return { online: v.online, timestamp: v.timestamp };
}

export function encode(payload: SparkplugPayload): Buffer {
  return Buffer.from(codec.encodePayload(payload));
}
