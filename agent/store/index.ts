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
export { DecisionStore, type OutboxEntry, type StoreOptions, type StoreStats } from './decision-store.js';
export { SCHEMA_VERSION } from './migrations.js';
