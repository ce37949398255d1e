export {
  type Added,
  AuditLog,
  type LoggedRequest,
  MAX_LOGGED_BODY,
  type Outcome,
  type Override,
  type RequestLogEntry,
  type RequestVia,
} from './audit-log.js';
export { type AuditedDecision, type AuditFilter, type AuditPage, AuditQuery } from './audit-query.js';
export { type Connection, LazyStatements } from './connection.js';
export {
  type DecisionIdentity,
  DecisionStore,
  type OutboxEntry,
  type RecordRequest,
  type StoredDecision,
  type StoreOptions,
  type StoreStats,
} from './decision-store.js';
export { DiskBudget, type DiskUsage, type DropKind } from './disk-budget.js';
export { HeldDecisions, MAX_HELD_DECISIONS } from './held-decisions.js';
export {
  type AnomalyMap,
  CONTENT_TYPES,
  frameJpeg,
  type ImageKind,
  type JudgedView,
  judgedDetail,
  judgedJpeg,
  openFrame,
} from './image-codec.js';
export { ImageStore } from './image-store.js';
export { SCHEMA_VERSION } from './migrations.js';
export { type StoreFault, storeFault } from './open-database.js';
export { DRIFT_REPORTS_KEPT, Pruner } from './pruner.js';
export { ReserveFile } from './reserve-file.js';
export { RETENTION_PERIOD_MS, RetentionSweep } from './retention.js';
export type { SeqRewind } from './seq-guard.js';
export { SeqMark } from './seq-mark.js';
export {
  IMAGE_KINDS,
  type ImageLookup,
  isDiskFull,
  STORE_MARGIN_MS,
  Storage,
  type StorageOptions,
} from './storage.js';
export { RECOVER_PERIOD_MS, StoreHealth, type StoreProblem } from './store-health.js';
export { CHECKPOINT_PERIOD_MS, WalCheckpoint } from './wal-checkpoint.js';
export type { StoreOp, WriteFault } from './write-faults.js';
