import type { Decision } from '../decision/index.js';
import type { ImageStats } from '../inference/index.js';
import { STAT_COUNT, STAT_INDEX } from './catalogue.js';

/**
 * One inspected frame as drift monitoring sees it: a value per statistic (NaN where the statistic does not
 * apply: no boxes, another task), the predicted class, and whether the verdict was NG. Made from the stored
 * decision and the image statistics the inference worker computed; nothing else of the frame is kept.
 */
export interface FrameFeatures {
  values: Float64Array;
  /** the model's predicted class (classification: top label; detection: the top box's label or "none";
   * anomaly: "anomalous" / "normal") */
  predicted: string;
  /** 1 for NG, 0 for OK or UNCERTAIN; null when the verdict did not come from the model (degraded) */
  ng: 0 | 1 | null;
}

/** The predicted class of a detection model's frame without boxes. */
export const NO_DETECTION = 'none';

/** Features of a decision the model judged; undefined for ERROR and deadline fallbacks (no model output). */
export function featuresOf(
  decision: Pick<Decision, 'result' | 'latencyMs' | 'verdict' | 'degraded'>,
  imageStats?: ImageStats,
): FrameFeatures | undefined {
  const result = decision.result;
  if (!result) return undefined;
  const values = new Float64Array(STAT_COUNT).fill(Number.NaN);
  const set = (name: keyof typeof STAT_INDEX, v: number) => {
    if (Number.isFinite(v)) values[STAT_INDEX[name]] = v;
  };
  if (imageStats) {
    set('brightness', imageStats.brightness);
    set('contrast', imageStats.contrast);
    set('sharpness', imageStats.sharpness);
    set('meanR', imageStats.meanR);
    set('meanG', imageStats.meanG);
    set('meanB', imageStats.meanB);
    set('saturation', imageStats.saturation);
    set('clippedDark', imageStats.clippedDark);
    set('clippedBright', imageStats.clippedBright);
  }
  let predicted: string;
  if (result.task === 'classification') {
    const ranked = Object.entries(result.scores).sort((a, b) => b[1] - a[1]);
    const top = ranked[0]?.[1] ?? 0;
    const second = ranked[1]?.[1] ?? 0;
    set('topScore', top);
    set('margin', top - second);
    set('entropy', entropyOf(ranked.map(([, s]) => s)));
    predicted = ranked[0]?.[0] ?? NO_DETECTION;
  } else if (result.task === 'detection') {
    const ds = result.detections;
    set('detectionCount', ds.length);
    if (ds.length > 0) set('meanBoxScore', ds.reduce((s, d) => s + d.score, 0) / ds.length);
    let best = ds[0];
    for (const d of ds) if (best === undefined || d.score > best.score) best = d;
    predicted = best?.label ?? NO_DETECTION;
  } else {
    set('anomalyScore', result.score);
    predicted = result.score >= result.threshold ? 'anomalous' : 'normal';
  }
  set('latencyMs', decision.latencyMs.total);
  const ng = decision.degraded || decision.verdict === 'ERROR' ? null : decision.verdict === 'NG' ? 1 : 0;
  return { values, predicted, ng };
}

/** Shannon entropy (nats) of scores normalised to sum to 1: high when the model cannot make up its mind. */
export function entropyOf(scores: readonly number[]): number {
  const total = scores.reduce((s, v) => s + Math.max(0, v), 0);
  if (!(total > 0)) return 0;
  let h = 0;
  for (const v of scores) {
    const p = Math.max(0, v) / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}
