import type { Baseline, WatchRecord } from './versions.js';

/** One judged frame of the active version, as the rollback watch sees it. */
export type Outcome = 'ok' | 'error' | 'miss';

/** What is known of one frame beyond its outcome: the model's time and the verdict the camera's rules gave. */
export interface FrameSample {
  ms?: number | undefined;
  verdict?: string | null | undefined;
}

export interface RollbackPolicy {
  enabled: boolean;
  windowMs: number;
  minFrames: number;
  maxErrorRateIncrease: number;
  maxMissRateIncrease: number;
  /** throughput: skipped triggers (the camera still busy) as a share of triggers, above the old share by */
  maxSkipRateIncrease?: number | undefined;
  /** p95 of the model's time per frame above the old p95 times this ... */
  maxLatencyRatio?: number | undefined;
  /** ... and by at least this many ms (a 2 ms model at 5 ms is not a regression anyone feels) */
  minLatencyIncreaseMs?: number | undefined;
  /** the NG share of judged frames moved by more than this, either way */
  maxNgRateShift?: number | undefined;
  /** accuracy on plant outcomes below the old version's by more than this (needs minOutcomes each) */
  maxAccuracyDrop?: number | undefined;
  minOutcomes?: number | undefined;
}

/** How many of the outgoing version's last frames make its baseline. */
const BASELINE_FRAMES = 200;
/** Latencies kept for the p95 of the watched version: the newest ones. */
const LATENCY_SAMPLES = 500;

type Recent = { skip: true } | { skip?: false; outcome: Outcome; ms?: number; verdict?: string | null };

interface Counts {
  frames: number;
  errors: number;
  misses: number;
  skips: number;
  judged: number;
  ng: number;
  latencies: number[];
  scored: number;
  correct: number;
}

const emptyCounts = (): Counts => ({
  frames: 0,
  errors: 0,
  misses: 0,
  skips: 0,
  judged: 0,
  ng: 0,
  latencies: [],
  scored: 0,
  correct: 0,
});

export function p95(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] ?? null;
}

function baselineOf(recent: readonly Recent[], accuracy: { accuracy: number | null; outcomes: number }) {
  const c = emptyCounts();
  for (const r of recent) add(c, r);
  return figures(c, accuracy);
}

function add(c: Counts, r: Recent): void {
  if (r.skip) {
    c.skips++;
    return;
  }
  c.frames++;
  if (r.outcome === 'error') c.errors++;
  if (r.outcome === 'miss') c.misses++;
  if (r.ms !== undefined) {
    c.latencies.push(r.ms);
    if (c.latencies.length > LATENCY_SAMPLES) c.latencies.shift();
  }
  if (r.verdict === 'OK' || r.verdict === 'NG' || r.verdict === 'UNCERTAIN') {
    c.judged++;
    if (r.verdict === 'NG') c.ng++;
  }
}

function figures(c: Counts, accuracy: { accuracy: number | null; outcomes: number }): Baseline {
  const n = c.frames;
  return {
    frames: n,
    errorRate: n ? c.errors / n : 0,
    missRate: n ? c.misses / n : 0,
    skipRate: n + c.skips ? c.skips / (n + c.skips) : 0,
    latencyP95: p95(c.latencies),
    ngRate: c.judged ? c.ng / c.judged : null,
    accuracy: accuracy.accuracy,
    outcomes: accuracy.outcomes,
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * The NG share moved by more than `limit` and by more than three standard errors of the difference (a
 * p-chart's 3 sigma): at 20 frames an NG rate of 30 % swings by 10 points on its own, so a fixed limit
 * alone would roll back good versions on a product mix that happened to change.
 */
function ngShifted(now: number | null, n: number, before: number | null, m: number, limit: number): boolean {
  if (now === null || before === null || n === 0 || m === 0) return false;
  const pooled = (now * n + before * m) / (n + m);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m));
  const shift = Math.abs(now - before);
  return shift > limit && shift > 3 * se;
}

/** What /api/status shows of a watch under way. */
export interface WatchStatus {
  version: string;
  since: number;
  until: number;
  canary: WatchRecord['canary'] | null;
  now: Baseline;
  baseline: Baseline;
}

/**
 * Watches a freshly promoted version against the one it replaced: within `windowMs` of the promotion, once
 * `minFrames` frames are judged, any of these is a verdict against the new version, checked in this order:
 * an error or deadline-miss rate above the old one by more than allowed; a throughput loss (triggers
 * skipped because the camera was still busy); a p95 latency regression; a shift of the NG rate (a model
 * that is wrong, not failing: a class swap turns OK parts NG); accuracy on plant outcomes lower than the
 * old version's. The comparisons that need the old version's figures (latency, NG rate) are made only when
 * it had `minFrames` frames. Time comes from the caller (an injected clock).
 */
export class HealthWatch {
  private recent: Recent[] = [];
  private watching:
    | { version: string; since: number; until: number; baseline: Baseline; counts: Counts }
    | undefined;
  private canary: WatchRecord['canary'];
  private ended: string | null = null;

  constructor(private readonly policy: RollbackPolicy) {}

  /**
   * A new version starts judging the line now; returns the outgoing version's figures (the baseline),
   * with its accuracy on outcomes when the caller knows it.
   */
  promoted(
    now: number,
    opts: {
      version?: string;
      accuracy?: { accuracy: number | null; outcomes: number };
      canary?: WatchRecord['canary'];
    } = {},
  ): Baseline {
    const baseline = baselineOf(this.recent, opts.accuracy ?? { accuracy: null, outcomes: 0 });
    this.recent = [];
    this.ended = null;
    this.canary = opts.canary;
    this.watching = this.policy.enabled
      ? {
          version: opts.version ?? '',
          since: now,
          until: now + this.policy.windowMs,
          baseline,
          counts: emptyCounts(),
        }
      : undefined;
    return baseline;
  }

  /** A watch saved before a restart, resumed for what is left of its window. */
  restore(record: WatchRecord, now: number): boolean {
    if (!this.policy.enabled || now > record.until) return false;
    this.canary = record.canary;
    this.watching = {
      version: record.version,
      since: record.since,
      until: record.until,
      baseline: record.baseline,
      counts: emptyCounts(),
    };
    return true;
  }

  /** Ends the watch without a verdict (a rollback by hand, a newer promotion). */
  cancel(): void {
    this.watching = undefined;
    this.canary = undefined;
  }

  /**
   * Records one frame's outcome; why to roll back, once. `watched` is false for a frame of the active
   * version while a canary is watched (it goes into the next baseline only).
   */
  record(outcome: Outcome, now: number, sample: FrameSample = {}, watched = true): string | undefined {
    const r: Recent = {
      outcome,
      ...(sample.ms !== undefined ? { ms: sample.ms } : {}),
      ...(sample.verdict !== undefined ? { verdict: sample.verdict } : {}),
    };
    this.remember(r, watched);
    if (!watched) return undefined;
    const w = this.current(now);
    if (!w) return undefined;
    add(w.counts, r);
    return this.judge();
  }

  /** A trigger skipped because the camera was still busy with the watched version's part. */
  skipped(now: number, watched = true): string | undefined {
    this.remember({ skip: true }, watched);
    if (!watched) return undefined;
    const w = this.current(now);
    if (!w) return undefined;
    w.counts.skips++;
    return this.judge();
  }

  /** A plant outcome for a decision of the watched version: was its verdict right? */
  scored(correct: boolean, now: number): string | undefined {
    const w = this.current(now);
    if (!w) return undefined;
    w.counts.scored++;
    if (correct) w.counts.correct++;
    return this.judge();
  }

  get active(): boolean {
    return this.watching !== undefined;
  }

  get version(): string | null {
    return this.watching?.version ?? null;
  }

  /** The version whose window ran out without a verdict since last asked (it is now known good), once. */
  takeEnded(): string | null {
    const v = this.ended;
    this.ended = null;
    return v;
  }

  status(): WatchStatus | null {
    const w = this.watching;
    if (!w) return null;
    return {
      version: w.version,
      since: w.since,
      until: w.until,
      canary: this.canary ?? null,
      now: this.now(w.counts),
      baseline: w.baseline,
    };
  }

  private remember(r: Recent, watched: boolean): void {
    // the frames of the version judging the line are the next promotion's baseline; a canary's are not
    if (watched && this.watching && this.canary) return;
    this.recent.push(r);
    if (this.recent.length > BASELINE_FRAMES) this.recent.shift();
  }

  private current(now: number) {
    const w = this.watching;
    if (!w) return undefined;
    if (now > w.until) {
      this.watching = undefined;
      this.ended = w.version;
      return undefined;
    }
    return w;
  }

  private now(c: Counts): Baseline {
    return figures(c, {
      accuracy: c.scored ? c.correct / c.scored : null,
      outcomes: c.scored,
    });
  }

  private judge(): string | undefined {
    const w = this.watching as NonNullable<typeof this.watching>;
    const p = this.policy;
    const c = w.counts;
    const b = w.baseline;
    const r = this.now(c);
    const since = `since promotion`;
    let reason: string | undefined;
    if (c.scored >= (p.minOutcomes ?? Number.POSITIVE_INFINITY) && b.accuracy !== null) {
      if (b.outcomes >= (p.minOutcomes ?? 0) && (r.accuracy ?? 1) < b.accuracy - (p.maxAccuracyDrop ?? 1)) {
        reason = `accuracy on plant outcomes ${pct(r.accuracy ?? 0)} over ${c.scored} outcomes ${since} vs ${pct(b.accuracy)} before`;
      }
    }
    if (!reason && c.frames >= p.minFrames) {
      const enough = b.frames >= p.minFrames;
      const latencyLimit =
        b.latencyP95 === null
          ? null
          : Math.max(
              b.latencyP95 * (p.maxLatencyRatio ?? Number.POSITIVE_INFINITY),
              b.latencyP95 + (p.minLatencyIncreaseMs ?? 0),
            );
      if (r.errorRate - b.errorRate > p.maxErrorRateIncrease) {
        reason = `errors ${pct(r.errorRate)} over ${r.frames} frames ${since} vs ${pct(b.errorRate)} before`;
      } else if (r.missRate - b.missRate > p.maxMissRateIncrease) {
        reason = `deadline misses ${pct(r.missRate)} over ${r.frames} frames ${since} vs ${pct(b.missRate)} before`;
      } else if (enough && r.skipRate - b.skipRate > (p.maxSkipRateIncrease ?? 1)) {
        reason = `throughput: ${pct(r.skipRate)} of triggers skipped (camera still busy) ${since} vs ${pct(b.skipRate)} before`;
      } else if (enough && latencyLimit !== null && r.latencyP95 !== null && r.latencyP95 > latencyLimit) {
        reason = `latency p95 ${r.latencyP95.toFixed(0)} ms ${since} vs ${b.latencyP95?.toFixed(0)} ms before`;
      } else if (enough && ngShifted(r.ngRate, c.judged, b.ngRate, b.frames, p.maxNgRateShift ?? 1)) {
        reason = `NG rate ${pct(r.ngRate ?? 0)} over ${c.judged} judged frames ${since} vs ${pct(b.ngRate ?? 0)} before`;
      }
    }
    if (reason) {
      this.watching = undefined;
      this.canary = undefined;
    }
    return reason;
  }
}
