import type { RulesConfig } from '../config/index.js';
import { judge } from '../decision/index.js';
import type { Inference } from '../inference/index.js';

export interface Judged {
  verdict: string | null;
  top: string | null;
}

/**
 * A camera's rules applied to one inference, so shadow and active verdicts compare like for like, for every
 * task. `top` is what a person compares next to the verdict: the top class (classification), the strongest
 * detection's label or "none" (detection); anomaly models have no class, so null.
 */
export type Judge = (inference: Inference) => Judged;

export function rulesJudge(rules: RulesConfig, labels: () => readonly string[]): Judge {
  return (inference) => {
    // the labels of the version that produced the result (a candidate may add a class); `labels` only for
    // an inference that does not carry them
    const { outcome } = judge(inference.result, rules, inference.labels ?? labels());
    return { verdict: outcome.verdict, top: topOf(inference) };
  };
}

export function topOf({ result }: Inference): string | null {
  if (result.task === 'classification') {
    return Object.entries(result.scores).sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  }
  if (result.task === 'detection') {
    return [...result.detections].sort((a, b) => b.score - a.score)[0]?.label ?? 'none';
  }
  return null;
}
