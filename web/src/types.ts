/** The parts of `/api/status` the page reads (agent/health/status-service.ts is the source of truth). */

export type Verdict = 'OK' | 'NG' | 'UNCERTAIN' | 'ERROR';
export type Counts = Record<Verdict, number>;

export interface LastVerdict {
  id: string;
  seq: number;
  verdict: Verdict;
  reason: string;
  decidedAt: number;
  partId?: string;
  degraded: boolean;
}

export interface CameraEntry {
  id: string;
  state: string;
  enabled: boolean;
  trigger: string;
  source: string;
  model: string;
  fps: number;
  lastFrameAgeMs: number | null;
  framesSkipped?: number;
  reconnects: number;
  connection: { state: string; reason: string; streamFps: number } | null;
  lastError: string | null;
  counts?: Counts;
  ngRate?: number | null;
  lastVerdict?: LastVerdict | null;
  latencyMs?: { p50: number | null; p99: number | null; samples: number };
  deadlineMs?: number;
  recent?: { windowS: number; decided: number; missed: number };
}

export interface ModelEntry {
  id: string;
  state: string;
  version: string | null;
  provider: string | null;
  error: string | null;
  shadow: {
    version: string;
    frames: number;
    agreement: number | null;
    state: string;
    provider: string | null;
  } | null;
}

export interface Problem {
  code: string;
  severity: 'warning' | 'critical';
  message: string;
  cameraId?: string;
  modelId?: string;
  since?: number;
}

export interface SystemBlock {
  cpu: { loadPercent: number | null; cores: number | null };
  memory: { totalBytes: number | null; usedBytes: number | null; processRssBytes: number };
  temperature: { cpuC: number | null };
  disk: { path: string; totalBytes: number | null; freeBytes: number | null };
  gpu: { model: string; memoryTotalMB: number | null; utilizationPercent: number | null }[];
  sampledAt: number | null;
}

export interface HistoryPoint {
  t: number;
  agent: {
    backlog: number;
    cpuPercent: number | null;
    memoryUsedBytes: number | null;
    processRssBytes: number;
    diskUsedBytes: number;
    temperatureC: number | null;
  };
  cameras: Record<
    string,
    {
      fps: number;
      latencyP50Ms: number | null;
      latencyP99Ms: number | null;
      decisions: number;
      ng: number;
    }
  >;
}

export interface History {
  stepMs: number;
  windowS: number;
  t: number[];
  agent: { [K in keyof HistoryPoint['agent']]: (number | null)[] };
  cameras: Record<string, { [K in keyof HistoryPoint['cameras'][string]]: (number | null)[] }>;
}

/** A drift window report (CONTRACT section 3), as far as the page reads it. */
export interface DriftReport {
  cameraId: string;
  ts: number;
  status: string;
  statistics?: { name: string; score: number; threshold: number; breach: boolean }[];
}

export interface Status {
  agent: { id: string; version: string; startedAt: number; uptimeS: number };
  cameras: CameraEntry[];
  models: ModelEntry[];
  store: {
    backlog: number;
    lastSeq: number;
    disk: { totalBytes: number; budgetBytes: number; full: boolean };
  };
  mqtt: { connected: boolean; url: string; lastError: string | null; inFlight: number };
  system: SystemBlock;
  problems: Problem[];
  history?: History;
  /** From the drift issue, when it lands: a report per camera (map or array). */
  drift?: unknown;
}

export interface DecisionSummary {
  cameraId: string;
  id: string;
  seq: number;
  verdict: Verdict;
  reason: string;
  decidedAt: number;
  partId?: string;
  degraded: boolean;
  hasFrame: boolean;
}

export interface Decision {
  id: string;
  seq: number;
  cameraId: string;
  partId?: string;
  decidedAt: number;
  verdict: Verdict;
  reason: string;
  degraded: boolean;
  model: { id: string; version: string; provider: string } | null;
  image: { sha256: string; stored: boolean } | null;
  result: { task: string; detections?: unknown[] } | null;
  outcomes?: { id: number; actual: string; source: string | null; receivedAt: number }[];
  overrides?: { id: number; verdict: string; user: string; reason: string; receivedAt: number }[];
}
