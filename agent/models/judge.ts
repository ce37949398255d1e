import type { RulesConfig } from '../config/index.js';
import { judgeClassification, resolveNgClasses } from '../decision/rules.js';
import type { Inference } from '../inference/index.js';

export interface Judged {
  verdict: string | null;
  top: string | null;
}

/**
 * A camera's rules applied to one inference, so shadow and active verdicts compare like for like. Only
 * classification is judged here; other tasks give nulls, which the shadow lane records as "not comparable"
 * (extend this with the detection/anomaly rules when they land).
 */
export type Judge = (inference: Inference) => Judged;

export function rulesJudge(rules: RulesConfig, labels: () => readonly string[]): Judge {
  return (inference) => {
    const { result } = inference;
    if (result.task !== 'classification') return { verdict: null, top: null };
    const top = Object.entries(result.scores).sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
    const outcome = judgeClassification(result.scores, rules, resolveNgClasses(rules, labels()));
    return { verdict: outcome.verdict, top };
  };
}
