export {
  type DeploymentDeps,
  type DeploymentState,
  type DeploymentStatus,
  ModelDeployment,
} from './deployment.js';
export type { ModelProblem } from './deployment-status.js';
export { evaluateGates, type GateResult, type PromotionPolicy } from './gates.js';
export { addToScore, emptyScore, GroundTruth, type Score, type VersionScores } from './ground-truth.js';
export { HealthWatch, type Outcome, type RollbackPolicy } from './health-watch.js';
export { ModelInbox } from './inbox.js';
export { type Judge, rulesJudge } from './judge.js';
export { DeploymentMetrics } from './metrics.js';
export { RolloutBook } from './rollout-book.js';
export { type ShadowReport, type ShadowRow, ShadowStore } from './shadow.js';
export type { ChangeOptions } from './version-changes.js';
export { type ActiveRecord, type CanaryScope, VersionStore, versionsDirOf } from './versions.js';
