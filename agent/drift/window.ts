import type { Baseline } from './baseline.js';
import { binCount, binOf } from './bins.js';
import { STAT_COUNT, STATS } from './catalogue.js';
import type { FrameFeatures } from './features.js';
import { countClass } from './mix.js';

/** One statistic's counters in a window: fixed-size, whatever the window's length. */
export interface WindowStat {
  /** values counted (a statistic may be absent on some frames) */
  n: number;
  sum: number;
  sumSq: number;
  /** per bin of the baseline's histogram (empty without a baseline) */
  counts: Float64Array;
}

/**
 * A tumbling window of decisions for one camera: counters only, no frame kept. Opened by its first
 * decision; closed by the monitor after `drift.window` decisions or `drift.maxWindowSeconds`.
 */
export class WindowAccumulator {
  readonly stats: WindowStat[];
  readonly classes: Record<string, number> = {};
  count = 0;
  judged = 0;
  ng = 0;
  unfit = 0;
  from: number | null = null;
  to: number | null = null;

  constructor(
    readonly index: number,
    readonly baseline: Baseline | null,
  ) {
    this.stats = STATS.map((def) => {
      const bins = baseline?.statistics[def.name]?.bins;
      const n = bins ? binCount(bins.edges) : 0;
      return { n: 0, sum: 0, sumSq: 0, counts: new Float64Array(n) };
    });
  }

  add(f: FrameFeatures, at: number, unfit: boolean): void {
    this.count++;
    this.from ??= at;
    this.to = at;
    if (unfit) this.unfit++;
    if (f.ng !== null) {
      this.judged++;
      this.ng += f.ng;
    }
    countClass(this.classes, f.predicted);
    for (let i = 0; i < STAT_COUNT; i++) {
      const v = f.values[i] as number;
      if (!Number.isFinite(v)) continue;
      const s = this.stats[i] as WindowStat;
      s.n++;
      s.sum += v;
      s.sumSq += v * v;
      const bins = this.baseline?.statistics[(STATS[i] as (typeof STATS)[number]).name]?.bins;
      if (bins) {
        const b = binOf(bins.edges, v);
        s.counts[b] = (s.counts[b] as number) + 1;
      }
    }
  }

  /** Each statistic's mean in this window (null where it had no value). */
  means(): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    STATS.forEach((def, i) => {
      const s = this.stats[i] as WindowStat;
      out[def.name] = s.n > 0 ? s.sum / s.n : null;
    });
    out.ngRate = this.judged > 0 ? this.ng / this.judged : null;
    return out;
  }
}

/** Outcomes the plant sent back (`R/request/outcome`) while a window was open, against the verdicts. */
export class OutcomeTally {
  /** actual OK/NG x verdict OK/NG/UNCERTAIN/ERROR */
  readonly confusion = {
    OK: { OK: 0, NG: 0, UNCERTAIN: 0, ERROR: 0 },
    NG: { OK: 0, NG: 0, UNCERTAIN: 0, ERROR: 0 },
  };
  count = 0;

  add(verdict: 'OK' | 'NG' | 'UNCERTAIN' | 'ERROR', actual: 'OK' | 'NG'): void {
    this.confusion[actual][verdict]++;
    this.count++;
  }

  addAll(other: OutcomeTally): void {
    for (const actual of ['OK', 'NG'] as const) {
      for (const verdict of ['OK', 'NG', 'UNCERTAIN', 'ERROR'] as const) {
        this.confusion[actual][verdict] += other.confusion[actual][verdict];
      }
    }
    this.count += other.count;
  }

  /**
   * Realised accuracy: verdicts that matched the plant's finding, over all outcomes (an UNCERTAIN or ERROR
   * verdict decided nothing, so it counts as not right); precision and recall of NG (null without NGs).
   */
  summary() {
    const c = this.confusion;
    const right = c.OK.OK + c.NG.NG;
    const saidNg = c.OK.NG + c.NG.NG;
    const wasNg = c.NG.OK + c.NG.NG + c.NG.UNCERTAIN + c.NG.ERROR;
    return {
      count: this.count,
      accuracy: this.count > 0 ? right / this.count : null,
      precisionNg: saidNg > 0 ? c.NG.NG / saidNg : null,
      recallNg: wasNg > 0 ? c.NG.NG / wasNg : null,
      confusion: { OK: { ...c.OK }, NG: { ...c.NG } },
    };
  }
}
