import { Counter, Gauge, type Registry } from 'prom-client';
import type { DriftReport, ReportStatus } from './report.js';

/** The number `eva_drift_status` shows for each report status (alert on >= 2; < 0 means "not judged"). */
export const STATUS_VALUE: Readonly<Record<ReportStatus, number>> = {
  ok: 0,
  warning: 1,
  drift: 2,
  insufficient: -1,
  'no-baseline': -2,
};

/** Drift's Prometheus series (`/metrics`), on the agent's registry; set once per window report. */
export class DriftMetrics {
  readonly status: Gauge<'camera'>;
  readonly scoreRatio: Gauge<'camera' | 'statistic' | 'test'>;
  readonly value: Gauge<'camera' | 'statistic'>;
  readonly accuracy: Gauge<'camera'>;
  readonly windows: Counter<'camera' | 'status'>;
  readonly unfitFrames: Counter<'camera'>;
  readonly gated: Counter<'camera'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.status = new Gauge({
      name: 'eva_drift_status',
      help: 'Latest drift window per camera: 0 ok, 1 warning (one breaching window), 2 drift, -1 insufficient, -2 no baseline',
      labelNames: ['camera'],
      registers,
    });
    this.scoreRatio = new Gauge({
      name: 'eva_drift_score_ratio',
      help: 'Latest window: test score over its calibrated threshold (above 1 is a breach)',
      labelNames: ['camera', 'statistic', 'test'],
      registers,
    });
    this.value = new Gauge({
      name: 'eva_drift_value',
      help: "Latest window's mean of each drift statistic",
      labelNames: ['camera', 'statistic'],
      registers,
    });
    this.accuracy = new Gauge({
      name: 'eva_drift_accuracy',
      help: 'Realised accuracy on plant outcomes in the latest window that had outcomes',
      labelNames: ['camera'],
      registers,
    });
    this.windows = new Counter({
      name: 'eva_drift_windows_total',
      help: 'Drift windows closed, by report status',
      labelNames: ['camera', 'status'],
      registers,
    });
    this.unfitFrames = new Counter({
      name: 'eva_drift_unfit_frames_total',
      help: 'Frames whose optics were far outside the baseline (blur, exposure): unfit to judge',
      labelNames: ['camera'],
      registers,
    });
    this.gated = new Counter({
      name: 'eva_drift_gated_total',
      help: 'Verdicts turned into a degraded UNCERTAIN by drift.gate because the frame was unfit to judge',
      labelNames: ['camera'],
      registers,
    });
  }

  report(r: DriftReport): void {
    const camera = r.cameraId;
    this.status.set({ camera }, STATUS_VALUE[r.status]);
    this.windows.inc({ camera, status: r.status });
    for (const s of r.statistics) {
      if (s.threshold > 0)
        this.scoreRatio.set({ camera, statistic: s.name, test: s.test }, s.score / s.threshold);
    }
    for (const [statistic, v] of Object.entries(r.means ?? {})) {
      if (v !== null) this.value.set({ camera, statistic }, v);
    }
    if (r.outcomes?.accuracy != null) this.accuracy.set({ camera }, r.outcomes.accuracy);
  }
}
