import { performance } from 'node:perf_hooks';
import type { Frame } from '../capture/index.js';
import { describeError } from '../errors.js';
import type { Inference, ModelRunner, ModelState } from '../inference/index.js';
import type { Clock } from '../service.js';
import { type Judge, topOf } from './judge.js';
import type { DeploymentMetrics } from './metrics.js';
import { addToReport, emptyReport, type ShadowReport, type ShadowRow, type ShadowStore } from './shadow.js';

export type ShadowStatus = ShadowReport & { state: ModelState; provider: string | null };

/**
 * A candidate version beside the active one: offered each frame after the active result, it takes one at a
 * time (a frame arriving while it is busy is counted as skipped, never queued), judges it with the same
 * camera's rules, and stores the comparison. Nothing here reaches a decision or the outbox.
 */
export class ShadowLane {
  private report: ShadowReport;
  private busy = false;
  private closed = false;

  constructor(
    readonly runner: ModelRunner,
    private readonly deps: {
      model: string;
      clock: Clock;
      store?: ShadowStore | undefined;
      metrics?: DeploymentMetrics | undefined;
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
    if (this.busy) {
      this.report = { ...this.report, skipped: this.report.skipped + 1 };
      this.deps.metrics?.shadow.inc({ model: this.deps.model, version, result: 'skipped' });
      return;
    }
    this.busy = true;
    const t0 = performance.now();
    const a = judge?.(active) ?? { verdict: null, top: topOf(active) };
    const base = {
      model: this.deps.model,
      camera: cameraId,
      activeVersion: active.model.version,
      shadowVersion: version,
      activeMs,
      activeVerdict: a.verdict,
      activeTop: a.top,
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
        if (this.closed) return; // promoted or replaced meanwhile
        this.report = addToReport(this.report, row);
        const result = row.error ? 'error' : row.agree ? 'agree' : 'disagree';
        this.deps.metrics?.shadow.inc({ model: this.deps.model, version, result });
        this.deps.store?.record(row);
      });
  }
}
