import type { Decision } from '../decision/index.js';

/** `store.hardExamples` (agent/config/schema.ts): what makes a frame worth a person's label. */
export interface HardnessPolicy {
  marginBelow: number;
  entropyAbove: number;
  anomalyWithin: number;
}

/** Why a frame was kept for labelling; several may hold. */
export type HardReason =
  | 'uncertain'
  | 'small-margin'
  | 'high-entropy'
  | 'near-threshold'
  | 'shadow-disagreement'
  | 'corrected-outcome'
  | 'corrected-override';

/**
 * The frames a model was least sure about, from the decision alone (its verdict and result), so choosing
 * costs no more than a sort of a few scores: an UNCERTAIN verdict (the rules' grey zone; a deadline
 * fallback is not, it has no model output), a classifier whose top two scores are close or whose scores
 * are spread (normalised entropy: 0 certain, 1 uniform), an anomaly score close to its threshold.
 * `score` orders them: how unsure (1 = a coin toss).
 */
export function hardReasons(decision: Decision, p: HardnessPolicy): { reasons: HardReason[]; score: number } {
  const reasons: HardReason[] = [];
  let score = 0;
  const r = decision.result;
  if (decision.verdict === 'UNCERTAIN' && !decision.degraded && r) {
    reasons.push('uncertain');
    score = Math.max(score, 0.5);
  }
  if (r?.task === 'classification') {
    const values = Object.values(r.scores).sort((a, b) => b - a);
    const margin = (values[0] ?? 0) - (values[1] ?? 0);
    if (values.length > 1 && margin < p.marginBelow) {
      reasons.push('small-margin');
      score = Math.max(score, 1 - margin);
    }
    const total = values.reduce((a, b) => a + b, 0);
    if (values.length > 1 && total > 0) {
      const entropy = -values.reduce((h, v) => (v > 0 ? h + (v / total) * Math.log(v / total) : h), 0);
      const normalised = entropy / Math.log(values.length);
      if (normalised > p.entropyAbove) {
        reasons.push('high-entropy');
        score = Math.max(score, normalised);
      }
    }
  } else if (r?.task === 'anomaly') {
    const distance = Math.abs(r.score - r.threshold);
    if (distance < p.anomalyWithin) {
      reasons.push('near-threshold');
      score = Math.max(score, 1 - distance);
    }
  }
  return { reasons, score };
}
