export {
  type ActivityCount,
  type ActivitySeed,
  type CameraActivity,
  type LastVerdict,
  LineStats,
  noCounts,
  type VerdictCounts,
} from './line-stats.js';
export {
  BACKLOG_WARNING,
  type Problem,
  type ProblemInputs,
  Problems,
  STARTUP_GRACE_MS,
} from './problems.js';
export {
  HISTORY_STEP_MS,
  HISTORY_WINDOW_MS,
  type HistoryPoint,
  StatusHistory,
  type StatusHistorySnapshot,
} from './status-history.js';
export {
  type CameraEntry,
  type DriftStatus,
  type Readiness,
  StatusService,
  type StatusSources,
} from './status-service.js';
export { SystemMonitor, type SystemSnapshot } from './system-monitor.js';
