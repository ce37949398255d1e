import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Frame } from '../capture/index.js';
import { describeError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Inference, ModelRunner, ModelState } from '../inference/index.js';
import type { Clock } from '../service.js';
import { type Judge, topOf } from './judge.js';
import type { DeploymentMetrics } from './metrics.js';
import { addToReport, emptyReport, type ShadowReport, type ShadowRow, type ShadowStore } from './shadow.js';

declare module '../events.js' {
  interface AgentEvents {
    /**
     * A shadow version judged a frame the active one judged (or failed on it). `frame` is the frame itself,
     * for whoever keeps disagreements for labelling (dataset/HardExamples); listeners must not hold it long.
     */
    ShadowCompared: {
      modelId: string;
      cameraId: string;
      frame: Frame;
      frameSha256: string;
      activeVersion: string;
      shadowVersion: string;
      activeVerdict: string | null;
      shadowVerdict: string | null;
      agree: boolean;
      error: string | null;
    };
  }
}

export type ShadowStatus = ShadowReport & { state: ModelState; provider: string | null };

/**
 * How far ahead the shadow may run on its budget: a burst of this many ms of inference before the budget
 * (a share of the active version's inference time) holds it back. Enough for a fast candidate to see every
 * frame; a slow one uses it up in a few frames and then takes only what the budget gives.
 */
export const SHADOW_BURST_MS = 2_000;

/**
 * A candidate version beside the active one: offered each frame after the active result, it takes one at a
 * time (a frame arriving while it is busy is counted as skipped, never queued), judges it with the same
 * camera's rules, and stores the comparison. Its CPU is budgeted: over time it spends at most `budget` times
 * the active version's inference time (frames refused for that are `throttled`), so a slow candidate cannot
 * slow the line. Nothing here reaches a decision or the outbox.
 */
export class ShadowLane {
  private report: ShadowReport;
  private busy = false;
  private closed = false;
  /** ms of inference the shadow may still spend (token bucket, refilled by the active version's time) */
  private credit = SHADOW_BURST_MS;

  constructor(
    readonly runner: ModelRunner,
    private readonly deps: {
      model: string;
      clock: Clock;
      store?: ShadowStore | undefined;
      metrics?: DeploymentMetrics | undefined;
      events?: EventBus | undefined;
      /** models[].shadowBudget: the shadow's inference time as a share of the active version's */
      budget?: number | undefined;
    },
  ) {
    this.report = emptyReport(runner.version ?? '?', deps.clock.now());
  }

  get version(): string | null {
    return this.runner.version;
  }

  status(): ShadowStatus {
    return { ...this.report, state: this.runner.state, provider: this.runner.snapshot().provider };
  }

  /** The report as it stands, and no more comparisons (the lane is being promoted or replaced). */
  close(): ShadowReport {
    this.closed = true;
    return { ...this.report };
  }

  offer(cameraId: string, frame: Frame, active: Inference, activeMs: number, judge?: Judge): void {
    if (this.closed || this.runner.state !== 'ready') return;
    const version = this.report.version;
    const budget = this.deps.budget ?? 1;
    this.credit = Math.min(SHADOW_BURST_MS, this.credit + budget * activeMs);
    const count = (what: 'skipped' | 'throttled') => {
      this.report = { ...this.report, [what]: this.report[what] + 1 };
      this.deps.metrics?.shadow.inc({ model: this.deps.model, version, result: what });
    };
    if (this.busy || this.credit <= 0) {
      count(this.busy ? 'skipped' : 'throttled');
      return;
    }
    this.busy = true;
    const t0 = performance.now();
    const a = judge?.(active) ?? { verdict: null, top: topOf(active) };
    const frameSha256 = createHash('sha256').update(frame.data).digest('hex');
    const base = {
      model: this.deps.model,
      camera: cameraId,
      activeVersion: active.model.version,
      shadowVersion: version,
      activeMs,
      activeVerdict: a.verdict,
      activeTop: a.top,
      frameSha256,
    };
    void this.runner
      .infer(frame)
      .then((inference): ShadowRow => {
        const s = judge?.(inference) ?? { verdict: null, top: topOf(inference) };
        if (a.verdict === null && a.top === null) {
          // no judge given and no class to compare (an anomaly model): say so rather than count two nulls
          // as agreement
          throw new Error(`task ${inference.result.task}: no verdict to compare without the camera's rules`);
        }
        const agree = a.verdict !== null ? a.verdict === s.verdict : a.top === s.top;
        const shadowMs = performance.now() - t0;
        const at = this.deps.clock.now();
        return { ...base, at, shadowVerdict: s.verdict, shadowTop: s.top, agree, shadowMs, error: null };
      })
      .catch(
        (err: unknown): ShadowRow => ({
          ...base,
          at: this.deps.clock.now(),
          shadowVerdict: null,
          shadowTop: null,
          agree: false,
          shadowMs: null,
          error: describeError(err),
        }),
      )
      .then((row) => {
        this.busy = false;
        this.credit -= performance.now() - t0;
        if (this.closed) return; // promoted or replaced meanwhile
        this.report = addToReport(this.report, row);
        const result = row.error ? 'error' : row.agree ? 'agree' : 'disagree';
        this.deps.metrics?.shadow.inc({ model: this.deps.model, version, result });
        this.deps.store?.record(row);
        this.deps.events?.emit('ShadowCompared', {
          modelId: this.deps.model,
          cameraId,
          frame,
          frameSha256,
          activeVersion: row.activeVersion,
          shadowVersion: version,
          activeVerdict: row.activeVerdict,
          shadowVerdict: row.shadowVerdict,
          agree: row.agree,
          error: row.error,
        });
      });
  }
}
