import type { RulesConfig } from '../config/index.js';
import type { TaskResult } from '../inference/index.js';
import type { Verdict } from './types.js';

export interface RuleOutcome {
  verdict: Verdict;
  reason: string;
}

type DetectionResult = Extract<TaskResult, { task: 'detection' }>;
type AnomalyResult = Extract<TaskResult, { task: 'anomaly' }>;
type Box = [number, number, number, number];

/** A model's result -> verdict, by the camera's rules for that task. */
export function judge(
  result: TaskResult,
  rules: RulesConfig,
  labels: readonly string[],
): { outcome: RuleOutcome; result: TaskResult } {
  if (result.task === 'classification') {
    return { outcome: judgeClassification(result.scores, rules, resolveNgClasses(rules, labels)), result };
  }
  if (result.task === 'detection') {
    return { outcome: judgeDetection(result, rules, resolveNgClasses(rules, labels)), result };
  }
  // the published result says which threshold judged it (the camera's override or the manifest's)
  const judged: AnomalyResult = { ...result, threshold: rules.anomalyThreshold ?? result.threshold };
  return { outcome: judgeAnomaly(judged, rules), result: judged };
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

const MAX_LISTED = 3;

function describeBoxes(ds: DetectionResult['detections']): string {
  const listed = ds
    .slice(0, MAX_LISTED)
    .map((d) => `${d.label} ${d.score.toFixed(2)} at [${d.box.map((v) => Math.round(v)).join(', ')}]`);
  return ds.length > MAX_LISTED
    ? `${listed.join('; ')} (+${ds.length - MAX_LISTED} more)`
    : listed.join('; ');
}

/**
 * Detections -> verdict. A detection counts only if its class is an NG class (default: every label but
 * "ok"), its box covers at least `minBoxArea` source pixels², and its centre lies inside `roi` (when set).
 * Of those: any with score >= minScore -> NG; else any with score >= uncertainBelow -> UNCERTAIN; else OK.
 */
export function judgeDetection(
  result: DetectionResult,
  rules: RulesConfig,
  ngClasses: readonly string[],
): RuleOutcome {
  const counted = result.detections
    .filter((d) => ngClasses.includes(d.label))
    .filter((d) => boxArea(d.box) >= (rules.minBoxArea ?? 0))
    .filter((d) => !rules.roi || centreInside(d.box, rules.roi))
    .sort((a, b) => b.score - a.score);
  const ng = counted.filter((d) => d.score >= rules.minScore);
  if (ng.length > 0) return { verdict: 'NG', reason: describeBoxes(ng) };
  const unsure = counted.filter((d) => d.score >= rules.uncertainBelow);
  if (unsure.length > 0) {
    return {
      verdict: 'UNCERTAIN',
      reason: `${describeBoxes(unsure)}; below ${rules.minScore}, at or above ${rules.uncertainBelow}`,
    };
  }
  const ignored = result.detections.length - counted.length;
  return {
    verdict: 'OK',
    reason:
      result.detections.length === 0
        ? 'no detections'
        : `no defect counted (${ignored} detection${ignored === 1 ? '' : 's'} ignored by class, area or region${counted.length ? `, ${counted.length} below ${rules.uncertainBelow}` : ''})`,
  };
}

/** Anomaly score -> verdict: NG at or above the threshold; UNCERTAIN from anomalyUncertainBelow when set. */
export function judgeAnomaly(result: AnomalyResult, rules: RulesConfig): RuleOutcome {
  const s = result.score.toFixed(2);
  if (result.score >= result.threshold) {
    return { verdict: 'NG', reason: `anomaly score ${s} >= threshold ${result.threshold}` };
  }
  const band = rules.anomalyUncertainBelow;
  if (band !== undefined && result.score >= band) {
    return {
      verdict: 'UNCERTAIN',
      reason: `anomaly score ${s} between ${band} and threshold ${result.threshold}`,
    };
  }
  return { verdict: 'OK', reason: `anomaly score ${s} < threshold ${result.threshold}` };
}

export function boxArea(b: Readonly<Box>): number {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}

function centreInside(b: Readonly<Box>, roi: Readonly<Box>): boolean {
  const cx = (b[0] + b[2]) / 2;
  const cy = (b[1] + b[3]) / 2;
  return cx >= roi[0] && cx <= roi[2] && cy >= roi[1] && cy <= roi[3];
}

/** The NG classes in force: the configured ones, else every label but "ok". */
export function resolveNgClasses(rules: RulesConfig, labels: readonly string[]): string[] {
  return rules.ngClasses ? [...rules.ngClasses] : labels.filter((l) => l.toLowerCase() !== 'ok');
}

const round = (v: number) => Math.round(v * 1e4) / 1e4;
