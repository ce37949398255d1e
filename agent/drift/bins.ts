import { quantileSorted } from './math.js';

/**
 * A statistic's reference histogram: edges at the baseline's quantiles (min and max included), so every
 * interior bin holds about the same share of the baseline, plus an overflow bin on each side for values
 * the baseline never showed. Bins: 0 = below the minimum, 1..interior = between edges, last = above the
 * maximum. Fixed once the baseline is built: a window only counts into it.
 */
export interface Bins {
  /** ascending, distinct; `edges[0]` is the baseline minimum, the last one its maximum */
  edges: number[];
  /** baseline values per bin (the overflow bins hold none, by construction) */
  counts: number[];
  /**
   * Where each bin's mass sits, for the Wasserstein distance: the baseline's mean within interior bins;
   * for the overflow bins, a fixed point OVERFLOW_REACH of the baseline's range beyond its extreme. Fixed,
   * not the window's own values: every test is then a function of bin counts alone, which is what the
   * calibration simulates exactly; how far values went is what the window mean, EWMA and CUSUM say.
   */
  points: number[];
}

/** Interior bins at most; fewer for a short baseline or a small window (about 5 window values per bin). */
export const MAX_INTERIOR_BINS = 10;
export const MIN_INTERIOR_BINS = 2;

/** The overflow bins' points lie this share of the baseline's range beyond its extremes. */
export const OVERFLOW_REACH = 0.25;

/** How many interior bins a baseline of `n` values judged in windows of `window` decisions gets. */
export function interiorBinsFor(n: number, window: number): number {
  const byBaseline = Math.floor(Math.sqrt(n) / 2);
  const byWindow = Math.floor(window / 5);
  return Math.max(MIN_INTERIOR_BINS, Math.min(MAX_INTERIOR_BINS, byBaseline, byWindow));
}

/** Builds the bins of an ascending array of finite baseline values. */
export function binsOf(sorted: Float64Array, interior: number): Bins {
  const raw: number[] = [];
  for (let i = 0; i <= interior; i++) raw.push(quantileSorted(sorted, i / interior));
  const edges = raw.filter((e, i) => i === 0 || e > (raw[i - 1] as number));
  const count = binCount(edges);
  const counts = new Array<number>(count).fill(0);
  const sums = new Array<number>(count).fill(0);
  for (const v of sorted) {
    const b = binOf(edges, v);
    counts[b] = (counts[b] as number) + 1;
    sums[b] = (sums[b] as number) + v;
  }
  const first = edges[0] as number;
  const last = edges[edges.length - 1] as number;
  const reach = Math.max((last - first) * OVERFLOW_REACH, Math.abs(last) * 1e-6, 1e-9);
  const points = counts.map((c, b) => {
    if (b === 0) return first - reach;
    if (b === count - 1) return last + reach;
    if (c > 0) return (sums[b] as number) / c;
    // an empty interior bin (interpolated edges between two neighbouring values): its middle
    return ((edges[b - 1] as number) + (edges[Math.min(b, edges.length - 1)] as number)) / 2;
  });
  return { edges, counts, points };
}

/** Interior bins for `edges.length` edges (one even for a constant statistic), plus the two overflow bins. */
export function binCount(edges: readonly number[]): number {
  return Math.max(1, edges.length - 1) + 2;
}

/** The bin of `v`. Interior bin k spans [edges[k-1], edges[k]); the last interior bin includes the maximum. */
export function binOf(edges: readonly number[], v: number): number {
  const m = edges.length - 1;
  if (v < (edges[0] as number)) return 0;
  if (v > (edges[m] as number)) return Math.max(1, m) + 1;
  // edges[1..m-1] at or below v
  let lo = 1;
  let hi = m; // exclusive upper bound of the search over indices 1..m-1
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((edges[mid] as number) <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface Scores {
  psi: number;
  ks: number;
  wasserstein: number;
}

/**
 * Wasserstein counts the distance between neighbouring bins' points up to this many standard deviations: a
 * heavy tail (a share of clipped pixels that is nearly always 0) has bins far apart, and one rare far value
 * would otherwise outweigh the whole window; a real shift still moves mass across many bins.
 */
export const MAX_STEP = 3;

/** Pseudo-count added to every bin before PSI takes logarithms (an empty bin is not infinitely surprising). */
const PSI_PSEUDO_COUNT = 0.5;

/**
 * The three per-statistic tests of a window against a reference, all from bin counts:
 * - PSI: sum of (w - r) ln(w / r) over bins, with a half-count added to each bin on both sides;
 * - KS: the largest gap between the two cumulative shares at any bin boundary;
 * - Wasserstein-1 between the two binned distributions (mass at each bin's point; a step between two
 *   neighbouring points counts at most MAX_STEP standard deviations), divided by `scale` (the baseline's
 *   standard deviation), so it reads "how many standard deviations the mass moved".
 */
export function scoresOf(
  ref: ArrayLike<number>,
  refN: number,
  win: ArrayLike<number>,
  winN: number,
  points: ArrayLike<number>,
  scale: number,
): Scores {
  const bins = ref.length;
  const a = PSI_PSEUDO_COUNT;
  const refDen = refN + a * bins;
  const winDen = winN + a * bins;
  let psi = 0;
  let ks = 0;
  let wasserstein = 0;
  let cumRef = 0;
  let cumWin = 0;
  for (let b = 0; b < bins; b++) {
    const r = ref[b] as number;
    const w = win[b] as number;
    const rp = (r + a) / refDen;
    const wp = (w + a) / winDen;
    psi += (wp - rp) * Math.log(wp / rp);
    if (b === bins - 1) break;
    cumRef += r;
    cumWin += w;
    const gap = Math.abs(cumWin / winN - cumRef / refN);
    if (gap > ks) ks = gap;
    const step = Math.max(0, (points[b + 1] as number) - (points[b] as number));
    wasserstein += gap * Math.min(step, MAX_STEP * scale);
  }
  return { psi, ks, wasserstein: wasserstein / scale };
}
