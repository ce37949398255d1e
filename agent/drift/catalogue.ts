/**
 * The statistics drift monitoring keeps per inspected frame, in one fixed order (a frame's features are an
 * array in this order, so a window holds fixed-size counters and no per-frame history).
 */

/** What a statistic is evidence of; each group raises its own alert code. */
export type StatGroup = 'input' | 'output' | 'ngRate' | 'latency' | 'outcomes';

export interface StatDef {
  name: string;
  group: StatGroup;
  /** Below this a difference means nothing (a grey level, a thousandth of a score): floors every scale. */
  resolution: number;
  unit: string;
}

export const STATS = [
  // from the pixels the model saw (inference/image-stats.ts)
  { name: 'brightness', group: 'input', resolution: 0.5, unit: 'grey level 0-255' },
  { name: 'contrast', group: 'input', resolution: 0.5, unit: 'grey level 0-255 (std)' },
  { name: 'sharpness', group: 'input', resolution: 1, unit: 'variance of the Laplacian' },
  { name: 'meanR', group: 'input', resolution: 0.5, unit: '0-255' },
  { name: 'meanG', group: 'input', resolution: 0.5, unit: '0-255' },
  { name: 'meanB', group: 'input', resolution: 0.5, unit: '0-255' },
  { name: 'saturation', group: 'input', resolution: 0.002, unit: '0-1' },
  { name: 'clippedDark', group: 'input', resolution: 0.001, unit: 'share of pixels' },
  { name: 'clippedBright', group: 'input', resolution: 0.001, unit: 'share of pixels' },
  // from the model's output (classification, detection or anomaly: the others stay empty)
  { name: 'topScore', group: 'output', resolution: 0.001, unit: 'score' },
  { name: 'margin', group: 'output', resolution: 0.001, unit: 'score (top minus second)' },
  { name: 'entropy', group: 'output', resolution: 0.001, unit: 'nats' },
  { name: 'anomalyScore', group: 'output', resolution: 0.001, unit: 'score' },
  { name: 'detectionCount', group: 'output', resolution: 1, unit: 'boxes' },
  { name: 'meanBoxScore', group: 'output', resolution: 0.001, unit: 'score' },
  // how long the decision took: reported, never alerted on (deadline misses are health's concern)
  { name: 'latencyMs', group: 'latency', resolution: 0.1, unit: 'ms' },
] as const satisfies readonly StatDef[];

export type StatName = (typeof STATS)[number]['name'];
export const STAT_COUNT = STATS.length;
export const STAT_INDEX: Readonly<Record<StatName, number>> = Object.freeze(
  Object.fromEntries(STATS.map((s, i) => [s.name, i])) as Record<StatName, number>,
);

/** The alert each group raises (CONTRACT section 3); latency raises none. */
export const ALERT_OF_GROUP: Readonly<Record<StatGroup, DriftAlertCode | null>> = {
  input: 'DRIFT_INPUT',
  output: 'DRIFT_OUTPUT',
  ngRate: 'DRIFT_NG_RATE',
  outcomes: 'ACCURACY_BELOW_FLOOR',
  latency: null,
};

export type DriftAlertCode =
  | 'DRIFT_INPUT'
  | 'DRIFT_OUTPUT'
  | 'DRIFT_NG_RATE'
  | 'ACCURACY_BELOW_FLOOR'
  | 'CAMERA_UNFIT';

/** The window alerts (the ones decided per window); CAMERA_UNFIT is decided per frame. */
export const WINDOW_ALERTS = [
  'DRIFT_INPUT',
  'DRIFT_OUTPUT',
  'DRIFT_NG_RATE',
  'ACCURACY_BELOW_FLOOR',
] as const;
export type WindowAlertCode = (typeof WINDOW_ALERTS)[number];

/** The per-window tests of a numeric statistic, as named in reports. */
export const DISTRIBUTION_TESTS = ['psi', 'ks', 'wasserstein'] as const;
export type DistributionTest = (typeof DISTRIBUTION_TESTS)[number];
export const CHART_TESTS = ['ewma', 'cusum'] as const;
export type ChartTest = (typeof CHART_TESTS)[number];
