import type { RulesConfig } from '../config/index.js';
import type { Verdict } from './types.js';

export interface RuleOutcome {
  verdict: Verdict;
  reason: string;
}

/**
 * Classification scores -> verdict. The NG score is the summed probability of the NG classes (the chance
 * the part is defective, whichever defect it is):
 *   ngScore >= minScore        -> NG
 *   ngScore <  uncertainBelow  -> OK
 *   otherwise                  -> UNCERTAIN (the grey zone a person or a re-inspection should settle)
 */
export function judgeClassification(
  scores: Readonly<Record<string, number>>,
  rules: RulesConfig,
  ngClasses: readonly string[],
): RuleOutcome {
  const ranked = Object.entries(scores).sort((a, b) => b[1] - a[1]);
  const [topLabel, topScore] = ranked[0] ?? ['none', 0];
  const ngScore = round(ngClasses.reduce((sum, label) => sum + (scores[label] ?? 0), 0));
  const top = `top class ${topLabel} ${topScore.toFixed(2)}`;
  if (ngScore >= rules.minScore) {
    const worst = ranked.find(([label]) => ngClasses.includes(label));
    return {
      verdict: 'NG',
      reason: `${worst?.[0] ?? 'defect'} ${(worst?.[1] ?? 0).toFixed(2)}; ng score ${ngScore.toFixed(2)} >= ${rules.minScore}`,
    };
  }
  if (ngScore < rules.uncertainBelow) return { verdict: 'OK', reason: top };
  return {
    verdict: 'UNCERTAIN',
    reason: `${top}; ng score ${ngScore.toFixed(2)} between ${rules.uncertainBelow} and ${rules.minScore}`,
  };
}

/** The NG classes in force: the configured ones, else every label but "ok". */
export function resolveNgClasses(rules: RulesConfig, labels: readonly string[]): string[] {
  return rules.ngClasses ? [...rules.ngClasses] : labels.filter((l) => l.toLowerCase() !== 'ok');
}

const round = (v: number) => Math.round(v * 1e4) / 1e4;
