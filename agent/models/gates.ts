import type { Score } from './ground-truth.js';
import type { ShadowReport } from './shadow.js';

/** `models[].promotion` (agent/config/schema.ts): what a candidate must show in shadow before it is promoted. */
export interface PromotionPolicy {
  minShadowFrames: number;
  minAgreement: number;
  maxLatencyRatio: number;
  maxShadowMs?: number | undefined;
  maxSkippedShare: number;
  minOutcomes: number;
  maxAccuracyDrop: number;
}

export interface GateResult {
  gate: 'shadow-frames' | 'agreement' | 'latency' | 'skipped' | 'accuracy';
  passed: boolean;
  detail: string;
}

/** Fewer shadowed frames than this say nothing about timing: the latency gate waits for them. */
const MIN_FRAMES_FOR_TIMING = 10;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * The gates a promotion by hand passes, each with what it saw. Without a shadow run only `shadow-frames`
 * can say anything (it fails when a minimum is set); the others pass for want of evidence against. Agreement
 * counts the shadow's errors as disagreements. Accuracy compares the candidate with the active version on
 * the same frames, once each has `minOutcomes` plant outcomes there.
 */
export function evaluateGates(
  policy: PromotionPolicy,
  shadow: ShadowReport | null,
  accuracy: { candidate: Score | undefined; active: Score | undefined },
): GateResult[] {
  const out: GateResult[] = [];
  const frames = shadow ? shadow.frames + shadow.errors : 0;
  out.push({
    gate: 'shadow-frames',
    passed: frames >= policy.minShadowFrames,
    detail: `${frames} shadow frames (at least ${policy.minShadowFrames})`,
  });
  if (!shadow || frames === 0) return out;
  const agreement = shadow.agreed / frames;
  out.push({
    gate: 'agreement',
    passed: agreement >= policy.minAgreement,
    detail: `agreement ${pct(agreement)} over ${frames} frames, errors counted as disagreement (at least ${pct(policy.minAgreement)})`,
  });
  if (shadow.frames >= MIN_FRAMES_FOR_TIMING && shadow.shadowMsMean !== null) {
    const ratioLimit =
      shadow.activeMsMean !== null ? shadow.activeMsMean * policy.maxLatencyRatio : Number.POSITIVE_INFINITY;
    const limit = Math.min(ratioLimit, policy.maxShadowMs ?? Number.POSITIVE_INFINITY);
    out.push({
      gate: 'latency',
      passed: shadow.shadowMsMean <= limit,
      detail: `shadow ${shadow.shadowMsMean.toFixed(1)} ms per frame vs active ${shadow.activeMsMean?.toFixed(1) ?? '?'} ms (at most ${policy.maxLatencyRatio}x${policy.maxShadowMs !== undefined ? ` and ${policy.maxShadowMs} ms` : ''})`,
    });
  }
  const offered = frames + shadow.skipped;
  const skipped = offered ? shadow.skipped / offered : 0;
  out.push({
    gate: 'skipped',
    passed: skipped <= policy.maxSkippedShare,
    detail: `${pct(skipped)} of offered frames skipped while the shadow was busy (at most ${pct(policy.maxSkippedShare)})`,
  });
  const { candidate, active } = accuracy;
  if (
    candidate?.accuracy != null &&
    active?.accuracy != null &&
    candidate.outcomes >= policy.minOutcomes &&
    active.outcomes >= policy.minOutcomes
  ) {
    out.push({
      gate: 'accuracy',
      passed: candidate.accuracy >= active.accuracy - policy.maxAccuracyDrop,
      detail: `accuracy on plant outcomes ${pct(candidate.accuracy)} vs active ${pct(active.accuracy)} on the same ${candidate.outcomes} frames`,
    });
  }
  return out;
}
