export {
  BACKLOG_WARNING,
  type DriftStatus,
  type Problem,
  type Readiness,
  StatusService,
  type StatusSources,
} from './status-service.js';
export { SystemMonitor, type SystemSnapshot } from './system-monitor.js';
