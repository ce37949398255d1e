export {
  type AlertMemory,
  BREACHES_TO_RAISE,
  CameraAlerts,
  CLEAN_TO_CLEAR,
  FIT_FRAMES_TO_CLEAR,
  UNFIT_FRAMES_TO_RAISE,
} from './alerting.js';
export {
  type Baseline,
  type BaselineMeta,
  buildBaseline,
  MAX_BASELINE_FRAMES,
  MIN_BASELINE_FRAMES,
} from './baseline.js';
export { runBaselineBuild } from './baseline-cli.js';
export { type Budget, budgetFor } from './calibration.js';
export { type DriftAlertCode, STATS, type StatName } from './catalogue.js';
export { type BaselineInfo, DriftStore, type ReportSummary } from './drift-store.js';
export { type FrameFeatures, featuresOf } from './features.js';
export { unfitReason } from './fitness.js';
export {
  cronScheduler,
  DriftMonitor,
  type DriftMonitorDeps,
  HISTORY_DEFAULT,
  HISTORY_MAX,
  type Scheduler,
} from './monitor.js';
export { type DriftReport, driftReportJsonSchema, driftReportSchema, type StatisticRow } from './report.js';
