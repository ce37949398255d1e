export { DecisionStore, type OutboxEntry, type StoreOptions, type StoreStats } from './decision-store.js';
export { SCHEMA_VERSION } from './migrations.js';
