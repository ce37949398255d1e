import { v7 as uuidv7 } from 'uuid';
import { type Bins, binOf, binsOf, interiorBinsFor } from './bins.js';
import { calibrateStatistic, MIN_WINDOWS_FOR_SPREAD, type StatCalibration } from './calibration.js';
import { STATS, type StatName } from './catalogue.js';
import type { FrameFeatures } from './features.js';
import { quantileSorted, seededRandom, seedOf } from './math.js';
import { categoriesOf, chiSquareOf, countClass, countsIn } from './mix.js';

/** Fewest frames a baseline is built from: fewer cannot say what normal looks like. */
export const MIN_BASELINE_FRAMES = 20;
/** Most frames a baseline is built from (a live collection holds them in memory until it is built). */
export const MAX_BASELINE_FRAMES = 20_000;
/** A statistic with fewer values than this in the baseline (another task's, say) is not tested. */
const MIN_STAT_VALUES = 10;
/** Fewer distinct values than this (a share that is always 0) leaves nothing to compare shapes with. */
const MIN_DISTINCT = 3;
/** The band a frame's optics are judged fit in: the baseline's 0.5 % to 99.5 % (fitness.ts). */
const BAND = [0.005, 0.995] as const;

export interface StatBaseline {
  count: number;
  mean: number;
  std: number;
  band: [number, number];
  /** null: too few distinct values to compare distributions (value and reference are still reported) */
  bins: Bins | null;
  calibration: StatCalibration | null;
  /** >= 1: how much more the baseline's consecutive window means vary than independent frames would */
  meanSpread: number;
}

export interface BaselineModel {
  id: string;
  version: string;
  sha256: string;
}

/** What normal looked like for one camera and one model (by sha256): kept in SQLite, one per build. */
export interface Baseline {
  format: 1;
  id: string;
  cameraId: string;
  model: BaselineModel;
  builtAt: number;
  source: 'folder' | 'live';
  frames: number;
  /** the window size the thresholds were calibrated for */
  window: number;
  /** consecutive windows the baseline holds (the spread corrections need MIN_WINDOWS_FOR_SPREAD) */
  windows: number;
  /** decisions per second while it was collected (live baselines only) */
  rate: number | null;
  statistics: Partial<Record<StatName, StatBaseline>>;
  classes: { counts: Record<string, number>; spread: number };
  ngRate: { judged: number; ng: number; p: number; spread: number };
}

export interface BaselineMeta {
  cameraId: string;
  model: BaselineModel;
  builtAt: number;
  source: 'folder' | 'live';
  window: number;
  rate?: number | null;
}

/**
 * Builds a baseline from frames in the order they came. The work is split per statistic, with `pause()`
 * awaited between them, so the agent's event loop keeps serving parts while a live baseline is built.
 */
export async function buildBaseline(
  frames: readonly FrameFeatures[],
  meta: BaselineMeta,
  pause: () => Promise<void> = async () => {},
): Promise<Baseline> {
  const id = uuidv7();
  const random = seededRandom(seedOf(id));
  const statistics: Partial<Record<StatName, StatBaseline>> = {};
  for (const [index, def] of STATS.entries()) {
    const values: number[] = [];
    for (const f of frames) {
      const v = f.values[index] as number;
      if (Number.isFinite(v)) values.push(v);
    }
    if (values.length < MIN_STAT_VALUES) continue;
    statistics[def.name] = await statisticOf(
      Float64Array.from(values),
      meta.window,
      def.resolution,
      random,
      pause,
    );
    await pause();
  }
  const classCounts: Record<string, number> = {};
  for (const f of frames) countClass(classCounts, f.predicted);
  return {
    format: 1,
    id,
    cameraId: meta.cameraId,
    model: meta.model,
    builtAt: meta.builtAt,
    source: meta.source,
    frames: frames.length,
    window: meta.window,
    windows: Math.floor(frames.length / meta.window),
    rate: meta.rate ?? null,
    statistics,
    classes: { counts: classCounts, spread: classSpread(frames, classCounts, meta.window) },
    ngRate: ngRateOf(frames, meta.window),
  };
}

async function statisticOf(
  values: Float64Array,
  window: number,
  resolution: number,
  random: () => number,
  pause: () => Promise<void>,
): Promise<StatBaseline> {
  const n = values.length;
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  const std = Math.sqrt(ss / Math.max(1, n - 1));
  const sorted = Float64Array.from(values).sort();
  let distinct = 1;
  for (let i = 1; i < n && distinct < MIN_DISTINCT; i++) if (sorted[i] !== sorted[i - 1]) distinct++;
  const band: [number, number] = [quantileSorted(sorted, BAND[0]), quantileSorted(sorted, BAND[1])];
  const scale = Math.max(std, resolution);
  let bins: Bins | null = null;
  let calibration: StatCalibration | null = null;
  if (distinct >= MIN_DISTINCT) {
    bins = binsOf(sorted, interiorBinsFor(n, window));
    const sequence = new Uint8Array(n);
    for (let i = 0; i < n; i++) sequence[i] = binOf(bins.edges, values[i] as number);
    calibration = await calibrateStatistic(bins, sequence, window, random, scale, pause);
  }
  return { count: n, mean, std, band, bins, calibration, meanSpread: meanSpreadOf(values, window, scale) };
}

/** Variance of consecutive window means over what independent values would give (at least 1). */
function meanSpreadOf(values: Float64Array, window: number, scale: number): number {
  const windows = Math.floor(values.length / window);
  if (windows < MIN_WINDOWS_FOR_SPREAD) return 1;
  const means: number[] = [];
  for (let w = 0; w < windows; w++) {
    let s = 0;
    for (let i = w * window; i < (w + 1) * window; i++) s += values[i] as number;
    means.push(s / window);
  }
  const m = means.reduce((a, b) => a + b, 0) / windows;
  const variance = means.reduce((a, b) => a + (b - m) ** 2, 0) / (windows - 1);
  return Math.max(1, variance / ((scale * scale) / window));
}

/** The class mix's chi-square of each baseline window against the rest, over its degrees of freedom. */
function classSpread(
  frames: readonly FrameFeatures[],
  counts: Record<string, number>,
  window: number,
): number {
  const windows = Math.floor(frames.length / window);
  const categories = categoriesOf(counts);
  if (windows < MIN_WINDOWS_FOR_SPREAD || categories.length < 3) return 1;
  const all = countsIn(categories, counts);
  let ratio = 0;
  for (let w = 0; w < windows; w++) {
    const part: Record<string, number> = {};
    for (let i = w * window; i < (w + 1) * window; i++)
      countClass(part, (frames[i] as FrameFeatures).predicted);
    const win = countsIn(categories, part);
    const rest = all.map((c, k) => c - (win[k] as number));
    const { statistic, df } = chiSquareOf(rest, win);
    ratio += df > 0 ? statistic / df / windows : 0;
  }
  return Math.max(1, ratio);
}

/**
 * The NG rate over the frames the model judged, with a half NG added (a baseline without one NG still has
 * a usable centre line), and Laney's overdispersion (p'-chart): how much more the rate varies from one
 * window to the next than a binomial would.
 */
function ngRateOf(frames: readonly FrameFeatures[], window: number): Baseline['ngRate'] {
  const judged = frames.filter((f) => f.ng !== null);
  const ng = judged.filter((f) => f.ng === 1).length;
  const p = (ng + 0.5) / (judged.length + 1);
  const windows = Math.floor(judged.length / window);
  let spread = 1;
  if (windows >= MIN_WINDOWS_FOR_SPREAD) {
    const rates: number[] = [];
    for (let w = 0; w < windows; w++) {
      rates.push(judged.slice(w * window, (w + 1) * window).filter((f) => f.ng === 1).length / window);
    }
    const m = rates.reduce((a, b) => a + b, 0) / windows;
    const variance = rates.reduce((a, b) => a + (b - m) ** 2, 0) / (windows - 1);
    spread = Math.max(1, variance / ((p * (1 - p)) / window));
  }
  return { judged: judged.length, ng, p, spread };
}
