import type { Database } from 'better-sqlite3';

/**
 * The store's one SQLite connection, as its companions hold it: `db` is read when they first need it, so
 * they can be built before the store is opened (the DecisionStore is one; it opens in `start()`).
 */
export interface Connection {
  readonly db: Database;
}
