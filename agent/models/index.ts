export {
  type DeploymentDeps,
  type DeploymentState,
  type DeploymentStatus,
  ModelDeployment,
} from './deployment.js';
export { HealthWatch, type Outcome, type RollbackPolicy } from './health-watch.js';
export { ModelInbox } from './inbox.js';
export { type Judge, rulesJudge } from './judge.js';
export { DeploymentMetrics } from './metrics.js';
export { type ShadowReport, type ShadowRow, ShadowStore } from './shadow.js';
export { type ActiveRecord, VersionStore, versionsDirOf } from './versions.js';
