import { type Bins, binCount, scoresOf } from './bins.js';
import type { DistributionTest } from './catalogue.js';
import { gammaUpperQuantile, multinomialDraw, quantileSorted } from './math.js';

/**
 * Thresholds are calibrated, not guessed (docs/drift.md, "Calibration"). For each statistic and test:
 *
 * 1. The no-drift distribution of the score at the configured window size is simulated: a reference of the
 *    baseline's size and a window are drawn from the baseline's own histogram (beyond each of the
 *    baseline's extremes the window may fall with a share drawn for each simulated window, on average the
 *    1/(N+1) a process truly leaves there), and the window is scored
 *    against the reference, BOOTSTRAP_DRAWS times. A gamma distribution is fitted to the upper tail of
 *    those scores (through their 90th and 99th percentiles: PSI is near a scaled chi-square, a gamma, but
 *    values landing beyond the baseline's range give it a heavier tail than a fit of mean and variance
 *    would), and extrapolated to the far tail the budget asks for.
 * 2. The baseline is cut into consecutive windows of the configured size and each is scored against the
 *    rest. Real lines vary more from one stretch to the next than independent frames would (lighting
 *    cycles, batches); the ratio of those scores to the simulated ones (at least 1) widens the threshold.
 * 3. At run time the threshold is the fitted gamma's upper quantile at the per-test level the false-alarm
 *    budget allows (budgetFor), rescaled to the window's actual size.
 */

/** Simulated windows per statistic: 5 of them beyond the 99.9th percentile the tail fit reads. */
export const BOOTSTRAP_DRAWS = 5000;
/** Simulated windows for the leave-one-window-out comparison (only its mean is used). */
const LOO_DRAWS = 300;
/** Consecutive baseline windows needed before their spread is trusted to widen thresholds. */
export const MIN_WINDOWS_FOR_SPREAD = 3;

/**
 * Awaited between slices of the simulation: the agent hands the event loop back to the line there (a live
 * baseline is built on the main thread), so no part waits behind a calibration for long.
 */
export type Pause = () => Promise<void>;
const noPause: Pause = async () => {};
/** Simulated windows between pauses (a few milliseconds of work). */
const DRAWS_PER_SLICE = 250;

export interface TestCalibration {
  /** gamma fitted to the simulated scores at (baseline size, configured window) */
  shape: number;
  scale: number;
  /** >= 1: how much more the baseline's own windows differ than independent frames would */
  spread: number;
}

export type StatCalibration = Record<DistributionTest, TestCalibration>;

const TESTS: readonly DistributionTest[] = ['psi', 'ks', 'wasserstein'];

/** Scores of `draws` simulated no-drift windows of `winN` against references of `refN`. */
export async function simulateScores(
  bins: Bins,
  refN: number,
  winN: number,
  draws: number,
  random: () => number,
  scale: number,
  pause: Pause = noPause,
): Promise<Record<DistributionTest, Float64Array>> {
  const count = binCount(bins.edges);
  const refProbs = bins.counts.map((c, b) => (b === 0 || b === count - 1 ? 0 : c));
  const total = refProbs.reduce((a, b) => a + b, 0);
  const winProbs = new Float64Array(count);
  const ref = new Float64Array(count);
  const win = new Float64Array(count);
  const out = {
    psi: new Float64Array(draws),
    ks: new Float64Array(draws),
    wasserstein: new Float64Array(draws),
  };
  for (let i = 0; i < draws; i++) {
    if (i % DRAWS_PER_SLICE === DRAWS_PER_SLICE - 1) await pause();
    // beyond each extreme lies an unseen share of the process: on average 1/(N+1), but as likely more or
    // less (the spacing beyond the largest of N values is near exponential), drawn anew for each window
    const low = -Math.log(1 - random()) / (refN + 1);
    const high = -Math.log(1 - random()) / (refN + 1);
    const inside = Math.max(0, 1 - low - high);
    for (let b = 0; b < count; b++) winProbs[b] = ((refProbs[b] as number) / total) * inside;
    winProbs[0] = low;
    winProbs[count - 1] = high;
    multinomialDraw(refN, refProbs, random, ref);
    multinomialDraw(winN, winProbs, random, win);
    const s = scoresOf(ref, refN, win, winN, bins.points, scale);
    out.psi[i] = s.psi;
    out.ks[i] = s.ks;
    out.wasserstein[i] = s.wasserstein;
  }
  return out;
}

/**
 * A gamma distribution through the sample's 90th and 99th percentiles (their ratio fixes the shape, then
 * the scale), so the fit follows the tail the thresholds are read from. A sample without spread in its
 * tail falls back to its mean and variance.
 */
export function fitGamma(samples: Float64Array): { shape: number; scale: number } {
  const sorted = Float64Array.from(samples).sort();
  const q90 = quantileSorted(sorted, 0.99);
  const q99 = quantileSorted(sorted, 0.999);
  if (q90 > 0 && q99 > q90) {
    const ratio = q99 / q90;
    const ratioAt = (a: number) => gammaUpperQuantile(a, 0.001) / gammaUpperQuantile(a, 0.01);
    // the ratio falls as the shape grows; bisect on log(shape) in [0.02, 5000]
    let lo = Math.log(0.02);
    let hi = Math.log(5000);
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (ratioAt(Math.exp(mid)) > ratio) lo = mid;
      else hi = mid;
    }
    const shape = Math.exp((lo + hi) / 2);
    return { shape, scale: q90 / gammaUpperQuantile(shape, 0.01) };
  }
  let sum = 0;
  for (const v of samples) sum += v;
  const mean = sum / samples.length;
  let ss = 0;
  for (const v of samples) ss += (v - mean) ** 2;
  const variance = ss / Math.max(1, samples.length - 1);
  if (!(mean > 0) || !(variance > 0)) return { shape: 1, scale: Math.max(mean, 1e-9) };
  return { shape: (mean * mean) / variance, scale: variance / mean };
}

/**
 * The calibration of one statistic: `sequence` is each baseline value's bin, in the order the frames came
 * (commissioning files by name, live decisions by time), for the window-to-window comparison.
 */
export async function calibrateStatistic(
  bins: Bins,
  sequence: Uint8Array,
  window: number,
  random: () => number,
  scale: number,
  pause: Pause = noPause,
): Promise<StatCalibration> {
  const n = sequence.length;
  const simulated = await simulateScores(bins, n, window, BOOTSTRAP_DRAWS, random, scale, pause);
  const spread = await windowSpread(bins, sequence, window, random, scale, pause);
  const out = {} as StatCalibration;
  for (const test of TESTS) out[test] = { ...fitGamma(simulated[test]), spread: spread[test] };
  return out;
}

async function windowSpread(
  bins: Bins,
  sequence: Uint8Array,
  window: number,
  random: () => number,
  scale: number,
  pause: Pause,
): Promise<Record<DistributionTest, number>> {
  const windows = Math.floor(sequence.length / window);
  const none = { psi: 1, ks: 1, wasserstein: 1 };
  if (windows < MIN_WINDOWS_FOR_SPREAD) return none;
  const count = binCount(bins.edges);
  const observed = { psi: 0, ks: 0, wasserstein: 0 };
  const win = new Float64Array(count);
  const rest = new Float64Array(count);
  for (let w = 0; w < windows; w++) {
    win.fill(0);
    for (let i = w * window; i < (w + 1) * window; i++) {
      const b = sequence[i] as number;
      win[b] = (win[b] as number) + 1;
    }
    for (let b = 0; b < count; b++) rest[b] = (bins.counts[b] as number) - (win[b] as number);
    const s = scoresOf(rest, sequence.length - window, win, window, bins.points, scale);
    for (const test of TESTS) observed[test] += s[test] / windows;
  }
  const simulated = await simulateScores(
    bins,
    sequence.length - window,
    window,
    LOO_DRAWS,
    random,
    scale,
    pause,
  );
  const out = { ...none };
  for (const test of TESTS) {
    let mean = 0;
    for (const v of simulated[test]) mean += v / simulated[test].length;
    out[test] = mean > 0 ? Math.max(1, observed[test] / mean) : 1;
  }
  return out;
}

/**
 * The threshold of `test` for a window of `n` decisions at the per-test false-alarm probability `p`. The
 * fitted gamma is for windows of `calibratedWindow` against `baselineN`; PSI grows as (1/n + 1/N) with
 * smaller samples, KS and Wasserstein as its square root.
 */
export function distributionThreshold(
  cal: TestCalibration,
  test: DistributionTest,
  baselineN: number,
  calibratedWindow: number,
  n: number,
  p: number,
): number {
  const ratio = (1 / n + 1 / baselineN) / (1 / calibratedWindow + 1 / baselineN);
  const factor = test === 'psi' ? ratio : Math.sqrt(ratio);
  return cal.scale * factor * cal.spread * gammaUpperQuantile(cal.shape, p);
}

export interface Budget {
  /** windows in one `falseAlarmEvery` at the measured window length */
  windowsPerPeriod: number;
  /** the probability each distribution test may breach in one window */
  pDistribution: number;
  /** the in-control average run length (windows) each EWMA or CUSUM chart needs */
  chartArl: number;
}

/**
 * Splits the false-alarm budget (one alarm per `falseAlarmEvery` on a stable line) over the tests:
 * half to the distribution tests (PSI, KS, Wasserstein, chi-square, p-chart), half to the EWMA and CUSUM
 * charts. A distribution test's breaches are independent from one window to the next on a stable line,
 * and an alert needs two in a row, so with per-window breach probability q for all of them together the
 * alarm rate is at most q^2 per window: q = sqrt(A/2), shared equally (Bonferroni) by the `distribution`
 * tests. A chart's state carries over between windows (two breaches in a row are nearly one), so each of
 * the `charts` gets an average run length of 2 * charts / A windows, A being one alarm per period.
 */
export function budgetFor(
  falseAlarmEveryMs: number,
  windowMs: number,
  distribution: number,
  charts: number,
): Budget {
  const windowsPerPeriod = Math.max(1, falseAlarmEveryMs / Math.max(1, windowMs));
  const alarmsPerWindow = 1 / windowsPerPeriod;
  return {
    windowsPerPeriod,
    pDistribution: Math.sqrt(alarmsPerWindow / 2) / Math.max(1, distribution),
    chartArl: (2 * Math.max(1, charts)) / alarmsPerWindow,
  };
}
