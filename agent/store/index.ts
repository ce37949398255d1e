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
export { DecisionStore, type OutboxEntry, type StoreOptions, type StoreStats } from './decision-store.js';
export { DiskBudget, type DiskUsage, type DropKind } from './disk-budget.js';
export { CONTENT_TYPES, type ImageKind } from './image-codec.js';
export { ImageStore } from './image-store.js';
export { SCHEMA_VERSION } from './migrations.js';
export { DRIFT_REPORTS_KEPT, Pruner } from './pruner.js';
export { RETENTION_PERIOD_MS, RetentionSweep } from './retention.js';
export {
  IMAGE_KINDS,
  type ImageLookup,
  isDiskFull,
  STORE_MARGIN_MS,
  Storage,
  type StorageOptions,
} from './storage.js';
export { CHECKPOINT_PERIOD_MS, WalCheckpoint } from './wal-checkpoint.js';
