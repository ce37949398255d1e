/** One judged frame of the active version, as the rollback watch sees it. */
export type Outcome = 'ok' | 'error' | 'miss';

export interface RollbackPolicy {
  enabled: boolean;
  windowMs: number;
  minFrames: number;
  maxErrorRateIncrease: number;
  maxMissRateIncrease: number;
}

/** How many of the outgoing version's last outcomes make its baseline. */
const BASELINE_FRAMES = 200;

interface Rates {
  frames: number;
  errorRate: number;
  missRate: number;
}

function rates(outcomes: readonly Outcome[]): Rates {
  const n = outcomes.length;
  if (n === 0) return { frames: 0, errorRate: 0, missRate: 0 };
  return {
    frames: n,
    errorRate: outcomes.filter((o) => o === 'error').length / n,
    missRate: outcomes.filter((o) => o === 'miss').length / n,
  };
}

/**
 * Watches a freshly promoted version against the one it replaced: within `windowMs` of the promotion, once
 * `minFrames` frames are judged, an error or deadline-miss rate above the old baseline by more than the
 * allowed increase is a verdict against the new version. Time comes from the caller (an injected clock).
 */
export class HealthWatch {
  private recent: Outcome[] = [];
  private watching: { since: number; baseline: Rates; outcomes: Outcome[] } | undefined;

  constructor(private readonly policy: RollbackPolicy) {}

  /** A new version starts judging the line now. */
  promoted(now: number): void {
    const baseline = rates(this.recent);
    this.recent = [];
    this.watching = this.policy.enabled ? { since: now, baseline, outcomes: [] } : undefined;
  }

  /** Records one outcome; returns why to roll back, once, or undefined. */
  record(outcome: Outcome, now: number): string | undefined {
    this.recent.push(outcome);
    if (this.recent.length > BASELINE_FRAMES) this.recent.shift();
    const w = this.watching;
    if (!w) return undefined;
    if (now - w.since > this.policy.windowMs) {
      this.watching = undefined;
      return undefined;
    }
    w.outcomes.push(outcome);
    if (w.outcomes.length < this.policy.minFrames) return undefined;
    const r = rates(w.outcomes);
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    let reason: string | undefined;
    if (r.errorRate - w.baseline.errorRate > this.policy.maxErrorRateIncrease) {
      reason = `errors ${pct(r.errorRate)} over ${r.frames} frames since promotion vs ${pct(w.baseline.errorRate)} before`;
    } else if (r.missRate - w.baseline.missRate > this.policy.maxMissRateIncrease) {
      reason = `deadline misses ${pct(r.missRate)} over ${r.frames} frames since promotion vs ${pct(w.baseline.missRate)} before`;
    }
    if (reason) this.watching = undefined;
    return reason;
  }

  get active(): boolean {
    return this.watching !== undefined;
  }
}
