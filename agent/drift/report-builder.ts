import type { DriftConfig } from '../config/index.js';
import type { CameraAlerts } from './alerting.js';
import type { BaselineModel } from './baseline.js';
import { ALERT_OF_GROUP, STATS, type StatGroup, type WindowAlertCode } from './catalogue.js';
import { type ChartMemory, evaluateWindow } from './evaluate.js';
import { round } from './math.js';
import type { OutcomeBook } from './outcomes.js';
import type { DriftReport, ReportStatus, StatisticRow } from './report.js';
import type { WindowAccumulator } from './window.js';

/** Statistics named in an alert's message at most (the report has them all). */
const NAMED_IN_MESSAGE = 4;

const WHAT: Record<'input' | 'output' | 'ngRate', string> = {
  input: 'input drift (image statistics)',
  output: 'output drift (model scores, class mix)',
  ngRate: 'NG rate out of its baseline limits',
};

export interface WindowContext {
  agentId: string;
  cameraId: string;
  model: BaselineModel;
  window: WindowAccumulator;
  closedAt: number;
  /** the measured window length (median of the latest windows) */
  windowMs: number;
  charts: ChartMemory;
  alerts: CameraAlerts;
  outcomes: OutcomeBook;
  config: DriftConfig;
}

/**
 * Judges a closed window and writes its report: the tests against the window's baseline (none without
 * one: `no-baseline`; too few decisions: `insufficient`), each alert's streak moved by what breached, the
 * plant's outcomes, and the status the camera is in afterwards.
 */
export function judgeWindow(ctx: WindowContext): { report: DriftReport } {
  const { window: w, config, alerts } = ctx;
  const baseline = w.baseline;
  let statistics: StatisticRow[] = [];
  let calibration: DriftReport['calibration'];
  let status: ReportStatus | undefined;
  let breachedAny = false;
  if (!baseline) {
    status = 'no-baseline';
  } else if (w.count < config.minDecisions) {
    status = 'insufficient';
  } else {
    const ev = evaluateWindow(baseline, w, ctx.charts, {
      windowMs: ctx.windowMs,
      falseAlarmEveryMs: config.falseAlarmEvery,
    });
    statistics = ev.rows;
    calibration = {
      windowSeconds: round(ctx.windowMs / 1000),
      windowsPerPeriod: round(ev.budget.windowsPerPeriod),
      pDistribution: round(ev.budget.pDistribution),
      chartArl: round(ev.budget.chartArl),
    };
    for (const group of ['input', 'output', 'ngRate'] as const) {
      const code = ALERT_OF_GROUP[group] as WindowAlertCode;
      const breach = ev.breached.has(group);
      breachedAny ||= breach;
      alerts.window(
        code,
        breach,
        () => alertMessage(ctx.cameraId, group, statistics),
        `${WHAT[group].replace(/ \(.*\)$/, '')} on ${ctx.cameraId}: back within the baseline for 3 windows`,
      );
    }
  }
  const outcome = ctx.outcomes.closeWindow(config.accuracyFloor, config.minOutcomes);
  const pooled = outcome.summary?.pooled;
  alerts.window(
    'ACCURACY_BELOW_FLOOR',
    outcome.breach,
    () =>
      `accuracy on plant outcomes for ${ctx.cameraId} is ${pct(pooled?.accuracy)} over the latest ${pooled?.count} outcomes, below drift.accuracyFloor ${pct(config.accuracyFloor)}`,
    `accuracy on plant outcomes for ${ctx.cameraId} is back at or above drift.accuracyFloor ${pct(config.accuracyFloor)}`,
  );
  breachedAny ||= outcome.breach === true;
  const active = alerts.active();
  if (status === undefined) {
    const drifting = active.some((c) => c !== 'CAMERA_UNFIT');
    status = drifting ? 'drift' : breachedAny ? 'warning' : 'ok';
  }
  const means: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(w.means())) means[k] = v === null ? null : round(v);
  const report: DriftReport = {
    schema: 1,
    agentId: ctx.agentId,
    cameraId: ctx.cameraId,
    ts: ctx.closedAt,
    model: ctx.model,
    baseline: baseline
      ? { id: baseline.id, builtAt: baseline.builtAt, frames: baseline.frames, source: baseline.source }
      : null,
    window: { index: w.index, count: w.count, from: w.from ?? ctx.closedAt, to: w.to ?? ctx.closedAt },
    status,
    statistics,
    ...(outcome.summary ? { outcomes: roundOutcomes(outcome.summary) } : {}),
    alerts: active,
    means,
    unfitFrames: w.unfit,
    ...(calibration ? { calibration } : {}),
  };
  return { report };
}

/**
 * "input drift (image statistics) on cam-1 for 2 windows in a row: brightness psi 1.9 > 0.41; sharpness ks
 * 0.52 > 0.3": each breaching statistic once (its worst test), in the catalogue's order.
 */
function alertMessage(cameraId: string, group: StatGroup, rows: readonly StatisticRow[]): string {
  const worst = new Map<string, StatisticRow>();
  for (const r of rows) {
    if (r.group !== group || !r.breach) continue;
    const ratio = (x: StatisticRow) => x.score / Math.max(x.threshold, 1e-12);
    const had = worst.get(r.name);
    if (!had || ratio(r) > ratio(had)) worst.set(r.name, r);
  }
  // in the catalogue's order (brightness before the clipped shares): what a technician checks first
  const order = (name: string) => {
    const i = STATS.findIndex((d) => d.name === name);
    return i < 0 ? STATS.length : i;
  };
  const named = [...worst.values()]
    .sort((a, b) => order(a.name) - order(b.name))
    .slice(0, NAMED_IN_MESSAGE)
    .map((r) => `${r.name}${r.detail ? ` (${r.detail})` : ''} ${r.test} ${r.score} > ${r.threshold}`);
  const more = worst.size > NAMED_IN_MESSAGE ? ` (+${worst.size - NAMED_IN_MESSAGE} more)` : '';
  const what = WHAT[group as 'input' | 'output' | 'ngRate'] ?? group;
  return `${what} on ${cameraId} for 2 windows in a row: ${named.join('; ')}${more}`;
}

function pct(v: number | null | undefined): string {
  return v === null || v === undefined ? 'n/a' : `${(v * 100).toFixed(1)}%`;
}

function roundOutcomes(o: NonNullable<DriftReport['outcomes']>): NonNullable<DriftReport['outcomes']> {
  const r = (v: number | null) => (v === null ? null : round(v));
  return {
    ...o,
    accuracy: r(o.accuracy),
    precisionNg: r(o.precisionNg),
    recallNg: r(o.recallNg),
    ...(o.pooled ? { pooled: { ...o.pooled, accuracy: round(o.pooled.accuracy) } } : {}),
  };
}
