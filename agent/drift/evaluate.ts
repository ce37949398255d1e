import type { Baseline, StatBaseline } from './baseline.js';
import { type Bins, scoresOf } from './bins.js';
import { type Budget, budgetFor, distributionThreshold, type StatCalibration } from './calibration.js';
import { STATS, type StatGroup, type StatName } from './catalogue.js';
import {
  BASELINE_BIAS_Z,
  type ChartState,
  chartDesign,
  freshChart,
  pChartLimit,
  stepChart,
  westernElectric,
} from './charts.js';
import { chiSquareUpperQuantile, round } from './math.js';
import { categoriesOf, chiSquareOf, countsIn } from './mix.js';
import type { StatisticRow } from './report.js';
import type { WindowAccumulator, WindowStat } from './window.js';

/** What carries over from one window to the next: the charts (EWMA, CUSUM) and the NG rate's last points. */
export interface ChartMemory {
  stats: Partial<Record<StatName, ChartState>>;
  ngRate: ChartState;
  /** the p-chart's standardised points, oldest first (the Western Electric rules look back 8) */
  ngPoints: number[];
}

export const freshCharts = (): ChartMemory => ({ stats: {}, ngRate: freshChart(), ngPoints: [] });

export interface Evaluation {
  rows: StatisticRow[];
  /** groups with at least one breaching test (latency never counts) */
  breached: Set<StatGroup>;
  budget: Budget;
}

type TestedStat = StatBaseline & { bins: Bins; calibration: StatCalibration };

/** A statistic is tested when its baseline has bins and calibration (enough distinct values). */
function tested(s: StatBaseline | undefined): s is TestedStat {
  return !!s?.bins && !!s.calibration;
}

/** How many tests and charts the budget is shared by: fixed per baseline, so thresholds do not jump. */
export function testCounts(baseline: Baseline): { distribution: number; charts: number } {
  let stats = 0;
  for (const def of STATS) if (def.group !== 'latency' && tested(baseline.statistics[def.name])) stats++;
  const classMix = categoriesOf(baseline.classes.counts).length >= 3 ? 1 : 0;
  return { distribution: stats * 3 + classMix + 1, charts: stats * 2 + 2 };
}

/**
 * Judges one closed window against the baseline: per statistic PSI, KS and normalised Wasserstein against
 * their calibrated thresholds and the EWMA and CUSUM charts of the window means; the class mix by
 * chi-square; the NG rate on a p-chart (with the Western Electric rules listed) and its own EWMA and CUSUM.
 * `charts` is updated in place.
 */
export function evaluateWindow(
  baseline: Baseline,
  window: WindowAccumulator,
  charts: ChartMemory,
  opts: { windowMs: number; falseAlarmEveryMs: number },
): Evaluation {
  const counts = testCounts(baseline);
  const budget = budgetFor(opts.falseAlarmEveryMs, opts.windowMs, counts.distribution, counts.charts);
  const rows: StatisticRow[] = [];
  STATS.forEach((def, i) => {
    const ref = baseline.statistics[def.name];
    const win = window.stats[i] as WindowStat;
    if (!tested(ref) || win.n < 2) return;
    rows.push(...statisticRows(def.name, def.group, ref, win, baseline, budget, charts));
  });
  const mix = classMixRow(baseline, window, budget);
  if (mix) rows.push(mix);
  rows.push(...ngRateRows(baseline, window, budget, charts));
  const breached = new Set<StatGroup>();
  for (const r of rows) if (r.breach && r.group !== 'latency') breached.add(r.group);
  return { rows, breached, budget };
}

function statisticRows(
  name: StatName,
  group: StatGroup,
  ref: TestedStat,
  win: WindowStat,
  baseline: Baseline,
  budget: Budget,
  charts: ChartMemory,
): StatisticRow[] {
  const { bins, calibration } = ref;
  const scale = Math.max(ref.std, STATS.find((s) => s.name === name)?.resolution ?? 0);
  const s = scoresOf(bins.counts, ref.count, win.counts, win.n, bins.points, scale);
  const mean = win.sum / win.n;
  const base = {
    name,
    group: group as StatisticRow['group'],
    value: round(mean),
    reference: round(ref.mean),
  };
  const rows: StatisticRow[] = (['psi', 'ks', 'wasserstein'] as const).map((test) => {
    const threshold = distributionThreshold(
      calibration[test],
      test,
      ref.count,
      baseline.window,
      win.n,
      budget.pDistribution,
    );
    return { ...base, test, score: round(s[test]), threshold: round(threshold), breach: s[test] > threshold };
  });
  // charts on the standardised window mean (the baseline's own window-to-window spread included)
  const se = scale * Math.sqrt(ref.meanSpread / win.n);
  const z = (mean - ref.mean) / se;
  const design = chartDesign(budget.chartArl, BASELINE_BIAS_Z * Math.sqrt(win.n / ref.count));
  charts.stats[name] ??= freshChart();
  const step = stepChart(charts.stats[name] as ChartState, z, design);
  for (const test of ['ewma', 'cusum'] as const) {
    const c = step[test];
    rows.push({ ...base, test, score: round(c.score), threshold: round(c.threshold), breach: c.breach });
  }
  return rows;
}

function classMixRow(
  baseline: Baseline,
  window: WindowAccumulator,
  budget: Budget,
): StatisticRow | undefined {
  const categories = categoriesOf(baseline.classes.counts);
  if (categories.length < 3 || window.count < 2) return undefined;
  const ref = countsIn(categories, baseline.classes.counts);
  const win = countsIn(categories, window.classes);
  const { statistic, df } = chiSquareOf(ref, win);
  if (df < 1) return undefined;
  const threshold = baseline.classes.spread * chiSquareUpperQuantile(df, budget.pDistribution);
  const refTotal = ref.reduce((a, b) => a + b, 0);
  let moved = 0;
  categories.forEach((_, k) => {
    const d = (n: number) => Math.abs((win[n] as number) / window.count - (ref[n] as number) / refTotal);
    if (d(k) > d(moved)) moved = k;
  });
  return {
    name: 'classMix',
    group: 'output',
    value: round((win[moved] as number) / window.count),
    reference: round((ref[moved] as number) / refTotal),
    test: 'chi2',
    score: round(statistic),
    threshold: round(threshold),
    breach: statistic > threshold,
    detail: categories[moved] as string,
  };
}

/**
 * The NG rate on a p-chart (Laney's p', so a baseline that varied more than binomially widens it; the
 * centre line's own error from a finite baseline counts too) with
 * limits at P_CHART_SIGMA or what the budget needs, the Western Electric rules it breaks listed (they do
 * not breach by themselves: together they give a false alarm about every 90 windows on a stable line, see
 * docs/drift.md), and EWMA and CUSUM on the same standardised points for slow rises.
 */
function ngRateRows(
  baseline: Baseline,
  window: WindowAccumulator,
  budget: Budget,
  charts: ChartMemory,
): StatisticRow[] {
  const { p, spread, judged } = baseline.ngRate;
  if (window.judged < 2 || judged < 1) return [];
  const rate = window.ng / window.judged;
  // the window's rate against an estimated centre line: both sides' sampling error count
  const se = Math.sqrt(p * (1 - p) * (1 / window.judged + 1 / judged) * spread);
  const z = (rate - p) / se;
  charts.ngPoints.push(z);
  if (charts.ngPoints.length > 8) charts.ngPoints.shift();
  const limit = pChartLimit(budget.pDistribution);
  const base = { name: 'ngRate', group: 'ngRate' as const, value: round(rate), reference: round(p) };
  const rows: StatisticRow[] = [
    {
      ...base,
      test: 'p-chart',
      score: round(Math.abs(z)),
      threshold: round(limit),
      breach: Math.abs(z) > limit,
      rules: westernElectric(charts.ngPoints),
    },
  ];
  const design = chartDesign(budget.chartArl, BASELINE_BIAS_Z * Math.sqrt(window.judged / judged));
  const step = stepChart(charts.ngRate, z, design);
  for (const test of ['ewma', 'cusum'] as const) {
    const c = step[test];
    rows.push({ ...base, test, score: round(c.score), threshold: round(c.threshold), breach: c.breach });
  }
  return rows;
}
