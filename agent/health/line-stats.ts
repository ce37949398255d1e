import type { Logger } from 'pino';
import type { Decision, Verdict } from '../decision/index.js';
import type { EventBus } from '../events.js';
import type { Clock, Service } from '../service.js';

export type VerdictCounts = Record<Verdict, number>;

/** The newest decision of a camera, as the page and `/api/status` show it. */
export interface LastVerdict {
  id: string;
  seq: number;
  verdict: Verdict;
  reason: string;
  decidedAt: number;
  partId?: string;
  degraded: boolean;
}

/** What one camera's line did lately: counts, NG rate, latency and deadline misses. */
export interface CameraActivity {
  /** Decisions of the last hour (by the minute: up to 59 minutes and the current one), by verdict. */
  counts: VerdictCounts;
  /** NG / all decisions of the last hour; null when there were none. */
  ngRate: number | null;
  lastVerdict: LastVerdict | null;
  /** Trigger to stored verdict (the span the deadline applies to), over the last hour's newest decisions. */
  latencyMs: { p50: number | null; p99: number | null; samples: number };
  deadlineMs: number;
  /** Parts of the last five minutes, and how many of them got no model verdict by the deadline. */
  recent: { windowS: number; decided: number; missed: number };
  /** Since the agent started (history steps are differences of these). */
  totals: VerdictCounts;
}

/** A decision count from the store, for a restart to show the hour that was already judged. */
export interface ActivityCount {
  cameraId: string;
  verdict: Verdict;
  /** decidedAt / 60000, rounded down */
  minute: number;
  n: number;
}

export interface ActivitySeed {
  counts: ActivityCount[];
  /** The newest decision of each camera. */
  last: Decision[];
}

const MINUTE_MS = 60_000;
/** Counts cover the last hour, kept by the minute: 60 buckets per camera, whatever the frame rate. */
const HOUR_MINUTES = 60;
/** Deadline misses are judged over this many minutes: long enough to see a trend, short enough to clear. */
export const RECENT_MINUTES = 5;
/** Latency percentiles come from at most this many newest decisions: sorting them costs well under 1 ms. */
const LATENCY_SAMPLES = 1_000;

const VERDICTS: readonly Verdict[] = ['OK', 'NG', 'UNCERTAIN', 'ERROR'];

export function noCounts(): VerdictCounts {
  return { OK: 0, NG: 0, UNCERTAIN: 0, ERROR: 0 };
}

interface Minute {
  counts: VerdictCounts;
  missed: number;
}

/** One camera's running tally: per-minute buckets and a ring of recent latencies. */
class CameraTally {
  readonly minutes = new Map<number, Minute>();
  readonly totals = noCounts();
  last: LastVerdict | null = null;
  private readonly latencies = new Float64Array(LATENCY_SAMPLES);
  private readonly latencyAt = new Float64Array(LATENCY_SAMPLES);
  private filled = 0;
  private next = 0;

  constructor(readonly deadlineMs: number) {}

  bucket(minute: number): Minute {
    let m = this.minutes.get(minute);
    if (!m) {
      m = { counts: noCounts(), missed: 0 };
      this.minutes.set(minute, m);
      for (const key of this.minutes.keys()) if (key <= minute - HOUR_MINUTES) this.minutes.delete(key);
    }
    return m;
  }

  latency(ms: number, at: number): void {
    this.latencies[this.next] = ms;
    this.latencyAt[this.next] = at;
    this.next = (this.next + 1) % LATENCY_SAMPLES;
    this.filled = Math.min(LATENCY_SAMPLES, this.filled + 1);
  }

  percentiles(since: number): CameraActivity['latencyMs'] {
    const values: number[] = [];
    for (let i = 0; i < this.filled; i++) {
      if ((this.latencyAt[i] as number) >= since) values.push(this.latencies[i] as number);
    }
    if (values.length === 0) return { p50: null, p99: null, samples: 0 };
    values.sort((a, b) => a - b);
    return { p50: quantile(values, 0.5), p99: quantile(values, 0.99), samples: values.length };
  }
}

/**
 * Verdict counts, NG rate, latency and deadline misses per camera, for `/api/status`, the page and the
 * problems list. It listens to `DecisionStored` (one map update and a ring write per decision: cheap on the
 * emitter's turn) and, at start, reads the last hour's counts from the store, so a restart does not show
 * an empty hour for a line that was judged all along.
 */
export class LineStats implements Service {
  readonly name = 'line-stats';
  private readonly cameras = new Map<string, CameraTally>();

  /** `deadlines`: each configured camera's deadlineMs (the cameras reported on). */
  constructor(
    private readonly deps: {
      clock: Clock;
      events: EventBus;
      log: Logger;
      deadlines: ReadonlyMap<string, number>;
      /** The store's view of the last hour; absent = start empty. */
      seed?: (since: number) => ActivitySeed;
    },
  ) {}

  async start(): Promise<void> {
    for (const [id, deadlineMs] of this.deps.deadlines) this.cameras.set(id, new CameraTally(deadlineMs));
    if (this.deps.seed) {
      try {
        this.applySeed(this.deps.seed(this.deps.clock.now() - HOUR_MINUTES * MINUTE_MS));
      } catch (err) {
        // the counts start at zero instead: worth a warning, not a failed start
        this.deps.log.warn({ err }, 'could not read the last hour of decisions; counts start empty');
      }
    }
    this.deps.events.on('DecisionStored', ({ decision }) => this.add(decision), this.name);
  }

  async stop(): Promise<void> {
    this.deps.events.removeListeners(this.name);
  }

  /** Counts one stored decision (the bus listener; tests call it directly). */
  add(d: Decision): void {
    const tally = this.cameras.get(d.cameraId);
    if (!tally) return;
    const latency = d.decidedAt - d.triggeredAt;
    const minute = tally.bucket(Math.floor(d.decidedAt / MINUTE_MS));
    minute.counts[d.verdict] += 1;
    tally.totals[d.verdict] += 1;
    // a fallback verdict is recorded at the deadline, without a model
    if ((d.degraded && d.model === null) || latency > tally.deadlineMs) minute.missed += 1;
    tally.latency(latency, d.decidedAt);
    if (!tally.last || d.seq > tally.last.seq) tally.last = lastOf(d);
  }

  snapshot(cameraId: string): CameraActivity | undefined {
    const tally = this.cameras.get(cameraId);
    if (!tally) return undefined;
    const now = this.deps.clock.now();
    const current = Math.floor(now / MINUTE_MS);
    const counts = noCounts();
    let decided = 0;
    let missed = 0;
    for (const [minute, m] of tally.minutes) {
      if (minute <= current - HOUR_MINUTES) continue;
      for (const v of VERDICTS) counts[v] += m.counts[v];
      if (minute > current - RECENT_MINUTES) {
        decided += sum(m.counts);
        missed += m.missed;
      }
    }
    const all = sum(counts);
    return {
      counts,
      ngRate: all === 0 ? null : round4(counts.NG / all),
      lastVerdict: tally.last,
      latencyMs: tally.percentiles(now - HOUR_MINUTES * MINUTE_MS),
      deadlineMs: tally.deadlineMs,
      recent: { windowS: (RECENT_MINUTES * MINUTE_MS) / 1000, decided, missed },
      totals: { ...tally.totals },
    };
  }

  /** Latency percentiles of the decisions stored since `since` (a history step). */
  latencySince(cameraId: string, since: number): CameraActivity['latencyMs'] {
    return this.cameras.get(cameraId)?.percentiles(since) ?? { p50: null, p99: null, samples: 0 };
  }

  private applySeed(seed: ActivitySeed): void {
    for (const c of seed.counts) {
      const tally = this.cameras.get(c.cameraId);
      if (tally && VERDICTS.includes(c.verdict)) tally.bucket(c.minute).counts[c.verdict] += c.n;
    }
    for (const d of seed.last) {
      const tally = this.cameras.get(d.cameraId);
      if (tally && (!tally.last || d.seq > tally.last.seq)) tally.last = lastOf(d);
    }
  }
}

function lastOf(d: Decision): LastVerdict {
  return {
    id: d.id,
    seq: d.seq,
    verdict: d.verdict,
    reason: d.reason,
    decidedAt: d.decidedAt,
    ...(d.partId !== undefined ? { partId: d.partId } : {}),
    degraded: d.degraded,
  };
}

function sum(c: VerdictCounts): number {
  return c.OK + c.NG + c.UNCERTAIN + c.ERROR;
}

/** Nearest-rank quantile of sorted values, rounded to 0.1 ms. */
function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round((sorted[i] as number) * 10) / 10;
}

const round4 = (v: number) => Math.round(v * 10_000) / 10_000;
