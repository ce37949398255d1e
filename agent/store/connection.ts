import type { Database } from 'better-sqlite3';

/**
 * The store's one SQLite connection, as its companions hold it: `db` is read when they first need it, so
 * they can be built before the store is opened (the DecisionStore is one; it opens in `start()`).
 */
export interface Connection {
  readonly db: Database;
}

/**
 * Prepared statements made on first use from a Connection, so their owner can be built before the store is
 * opened; prepared once, then kept.
 */
export class LazyStatements<T> {
  private made: T | undefined;

  constructor(
    private readonly connection: Connection,
    private readonly prepare: (db: Database) => T,
  ) {}

  get(): T {
    this.made ??= this.prepare(this.connection.db);
    return this.made;
  }
}
