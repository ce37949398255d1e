import { normalCdf, normalQuantile } from './math.js';

/**
 * Control charts on window means, for slow change a single window cannot see (a dimming light, a lens
 * dirtying over days): EWMA and a two-sided CUSUM on standardised window means, and the NG rate's p-chart
 * with the Western Electric rules. Their limits come from the false-alarm budget (calibration.ts), computed
 * here from the charts' run-length behaviour, not read from a table.
 */

/** EWMA weight of the newest window: 0.2 is the textbook choice for shifts of about one standard error. */
export const EWMA_LAMBDA = 0.2;
/** CUSUM reference value in standard errors: tuned to catch a shift of one standard error soonest. */
export const CUSUM_K = 0.5;
/**
 * The baseline's mean is itself an estimate: charts allow for it being off by this many of its standard
 * errors (sqrt(window / baseline size) in window standard errors), so a short baseline does not make a
 * stable line's charts creep towards their limits.
 */
export const BASELINE_BIAS_Z = 2;
/** The textbook p-chart limit, in standard errors; widened when the budget asks for fewer false alarms. */
export const P_CHART_SIGMA = 3;

export interface ChartDesign {
  /** CUSUM reference value and decision interval, in window standard errors */
  k: number;
  h: number;
  /** EWMA limit, in window standard errors */
  ewmaLimit: number;
}

export interface ChartState {
  ewma: number;
  high: number;
  low: number;
}

export const freshChart = (): ChartState => ({ ewma: 0, high: 0, low: 0 });

export interface ChartStep {
  ewma: { score: number; threshold: number; breach: boolean };
  cusum: { score: number; threshold: number; breach: boolean };
}

/** Moves a chart by one window's standardised mean `z` (in place) and says where it stands. */
export function stepChart(state: ChartState, z: number, design: ChartDesign): ChartStep {
  state.ewma = EWMA_LAMBDA * z + (1 - EWMA_LAMBDA) * state.ewma;
  state.high = Math.max(0, state.high + z - design.k);
  state.low = Math.max(0, state.low - z - design.k);
  const cusum = Math.max(state.high, state.low);
  return {
    ewma: {
      score: Math.abs(state.ewma),
      threshold: design.ewmaLimit,
      breach: Math.abs(state.ewma) > design.ewmaLimit,
    },
    cusum: { score: cusum, threshold: design.h, breach: cusum > design.h },
  };
}

/**
 * The charts' limits for an in-control average run length of `arl` windows, when the baseline mean may be
 * off by `bias` window standard errors. CUSUM: reference k = CUSUM_K + bias, so the worst in-control drift
 * per window is -CUSUM_K whatever the bias, and each one-sided half gets twice the run length (Siegmund's
 * approximation, within a few per cent of exact tables). EWMA: a Markov-chain run length (Brook & Evans)
 * under a mean shifted by `bias`, solved for the limit.
 */
export function chartDesign(arl: number, bias: number): ChartDesign {
  return { k: CUSUM_K + bias, h: cusumInterval(2 * arl), ewmaLimit: ewmaLimit(arl, bias) };
}

/** Siegmund: ARL = (exp(-2 d b) + 2 d b - 1) / (2 d^2), b = h + 1.166, here with drift d = -CUSUM_K. */
export function cusumArl(h: number, drift = -CUSUM_K): number {
  const b = h + 1.166;
  if (Math.abs(drift) < 1e-9) return b * b;
  return (Math.exp(-2 * drift * b) + 2 * drift * b - 1) / (2 * drift * drift);
}

/** The decision interval h whose one-sided in-control run length is `arl` windows. */
export function cusumInterval(arl: number): number {
  let lo = 0;
  let hi = 200;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (cusumArl(mid) < arl) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** States of the EWMA Markov chain (odd, so 0 is a state's centre): 61 gives run lengths within 1 %. */
const EWMA_STATES = 61;

/** Average run length of a two-sided EWMA with limit `limit` (standard errors of the EWMA statistic's
 * asymptotic spread times L), when the window means are shifted by `shift` standard errors. */
export function ewmaArl(L: number, shift: number, lambda = EWMA_LAMBDA): number {
  const m = EWMA_STATES;
  const h = L * Math.sqrt(lambda / (2 - lambda));
  const w = (2 * h) / m;
  const centre = (i: number) => -h + (i + 0.5) * w;
  // (I - Q) x = 1, Gaussian elimination with partial pivoting on a dense m x m matrix
  const a: Float64Array[] = [];
  for (let i = 0; i < m; i++) {
    const row = new Float64Array(m + 1);
    const from = (1 - lambda) * centre(i);
    for (let j = 0; j < m; j++) {
      const upper = (centre(j) + w / 2 - from) / lambda - shift;
      const lower = (centre(j) - w / 2 - from) / lambda - shift;
      row[j] = (i === j ? 1 : 0) - (normalCdf(upper) - normalCdf(lower));
    }
    row[m] = 1;
    a.push(row);
  }
  for (let col = 0; col < m; col++) {
    let pivot = col;
    for (let r = col + 1; r < m; r++) {
      if (Math.abs(a[r]?.[col] as number) > Math.abs(a[pivot]?.[col] as number)) pivot = r;
    }
    [a[col], a[pivot]] = [a[pivot] as Float64Array, a[col] as Float64Array];
    const p = a[col] as Float64Array;
    for (let r = col + 1; r < m; r++) {
      const row = a[r] as Float64Array;
      const f = (row[col] as number) / (p[col] as number);
      if (f === 0) continue;
      for (let c = col; c <= m; c++) row[c] = (row[c] as number) - f * (p[c] as number);
    }
  }
  const x = new Float64Array(m);
  for (let r = m - 1; r >= 0; r--) {
    const row = a[r] as Float64Array;
    let s = row[m] as number;
    for (let c = r + 1; c < m; c++) s -= (row[c] as number) * (x[c] as number);
    x[r] = s / (row[r] as number);
  }
  return x[(m - 1) / 2] as number;
}

const ewmaLimits = new Map<string, number>();

/** The EWMA limit (in window standard errors) for an in-control run length of `arl` at mean shift `bias`. */
export function ewmaLimit(arl: number, bias: number): number {
  // run-length targets a twentieth of a decade apart share a limit: the budget is not that precise
  const key = `${Math.round(Math.log10(Math.max(1, arl)) * 20)}/${Math.round(bias * 100)}`;
  const cached = ewmaLimits.get(key);
  if (cached !== undefined) return cached;
  let lo = 0.5;
  let hi = 12;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (ewmaArl(mid, bias) < arl) lo = mid;
    else hi = mid;
  }
  const limit = hi * Math.sqrt(EWMA_LAMBDA / (2 - EWMA_LAMBDA));
  if (ewmaLimits.size > 1000) ewmaLimits.clear();
  ewmaLimits.set(key, limit);
  return limit;
}

/** The p-chart's limit in standard errors: P_CHART_SIGMA, or wider if a two-sided `p` asks for it. */
export function pChartLimit(p: number): number {
  return Math.max(P_CHART_SIGMA, normalQuantile(1 - p / 2));
}

/**
 * The Western Electric rules that the newest point breaks, given the chart's recent standardised points
 * (oldest first, at most 8 kept): beyond 3 sigma; 2 of 3 beyond 2 sigma on one side; 4 of 5 beyond
 * 1 sigma on one side; 8 in a row on one side of the centre line.
 */
export function westernElectric(points: readonly number[]): string[] {
  const fired: string[] = [];
  const last = points.at(-1);
  if (last === undefined) return fired;
  if (Math.abs(last) > 3) fired.push('1 beyond 3 sigma');
  const side = Math.sign(last);
  const recent = (n: number) => points.slice(-n);
  const sameSideBeyond = (xs: number[], k: number) =>
    xs.filter((z) => Math.sign(z) === side && Math.abs(z) > k);
  if (points.length >= 3 && side !== 0 && sameSideBeyond(recent(3), 2).length >= 2) {
    fired.push('2 of 3 beyond 2 sigma');
  }
  if (points.length >= 5 && side !== 0 && sameSideBeyond(recent(5), 1).length >= 4) {
    fired.push('4 of 5 beyond 1 sigma');
  }
  if (points.length >= 8 && side !== 0 && recent(8).every((z) => Math.sign(z) === side)) {
    fired.push('8 in a row on one side');
  }
  return fired;
}
