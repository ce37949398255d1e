import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import { AgentError, ErrorCodes } from '../errors.js';
import { migrate } from './migrations.js';

/**
 * Opens the store's one connection with the settings the rest of the store relies on; migrates it.
 *
 * - `locking_mode = EXCLUSIVE`, set before the first WAL access: SQLite then keeps the WAL index in the
 *   process's heap instead of a memory-mapped `-shm` file. A mapped file turns an I/O problem into a signal:
 *   when the `-shm` file is made immutable (or its file system fails), the kernel answers the next write to a
 *   mapped page with SIGBUS and the process dies without a word (issue 16, failure 7: exit 135, seen here
 *   with `chattr +i` on ext4). With the index in the heap every such problem is an error code that
 *   the store reports. The lock also keeps a second agent (or a tool) from writing the same store while this
 *   one runs: one writer, as the store assumes. `mmap_size` is 0 in better-sqlite3's build, so the database
 *   file itself is never mapped.
 * - `temp_store = MEMORY`: sorts and temporary tables never need disk space (a full disk must not stop a
 *   read or the queries that free space).
 * - `auto_vacuum = INCREMENTAL` on a new database: rows deleted to keep the disk budget can give their pages
 *   back to the file system (`incremental_vacuum`), so the file shrinks instead of only being reused.
 */
export function openDatabase(opts: { path: string; log: Logger; synchronous?: 'FULL' | 'NORMAL' }): Database {
  const { path, log } = opts;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new BetterSqlite3(path);
    db.pragma('locking_mode = EXCLUSIVE');
    // a new file gets incremental auto-vacuum before its first table (it cannot be turned on later without
    // rewriting the whole file)
    const fresh = (db.pragma('page_count', { simple: true }) as number) === 0;
    if (fresh) db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    db.pragma('temp_store = MEMORY');
    const integrity = db.pragma('quick_check', { simple: true });
    if (integrity !== 'ok') throw new Error(`integrity check failed: ${String(integrity)}`);
    const { from, to, backup } = migrate(db, path);
    if (from !== to) log.info({ from, to, backup }, 'store schema migrated');
    if (!fresh) convertToIncrementalVacuum(db, log);
    return db;
  } catch (err) {
    // the store is held exclusively while an agent runs on it (see above)
    const busy =
      (err as { code?: unknown }).code === 'SQLITE_BUSY' ? ' (is an agent running on this store?)' : '';
    throw new AgentError(
      ErrorCodes.STORE_OPEN,
      `cannot open the store at ${path}: ${(err as Error).message}${busy}`,
      { cause: err },
    );
  }
}

/** A store made before incremental auto-vacuum is rewritten once at start when it is at most this big. */
const CONVERT_MAX_BYTES = 64 * 1024 * 1024;

/**
 * A database made by an earlier version has no auto-vacuum: deleted rows leave free pages the file keeps.
 * Turning it on needs one VACUUM (a rewrite: seconds for tens of MB, and as much free disk again), done at
 * start for a store up to CONVERT_MAX_BYTES; a bigger one keeps working as before (the disk budget then
 * counts its used pages) and is converted by hand (docs/storage.md). A failure (no room) changes nothing.
 */
function convertToIncrementalVacuum(db: Database, log: Logger): void {
  if ((db.pragma('auto_vacuum', { simple: true }) as number) !== 0) return;
  const bytes =
    (db.pragma('page_count', { simple: true }) as number) *
    (db.pragma('page_size', { simple: true }) as number);
  if (bytes > CONVERT_MAX_BYTES) {
    log.warn({ bytes }, 'store has no incremental auto-vacuum and is too big to convert at start');
    return;
  }
  try {
    db.pragma('auto_vacuum = INCREMENTAL');
    db.exec('VACUUM');
    log.info({ bytes }, 'store converted to incremental auto-vacuum');
  } catch (err) {
    log.warn({ err }, 'store could not be converted to incremental auto-vacuum; it works as before');
  }
}

/** What a failed store write says about the store. */
export type StoreFault = 'full' | 'unwritable';

/** SQLite result codes (extended ones begin with these) and OS errors that mean the disk is full. */
const FULL_CODES = ['SQLITE_FULL', 'ENOSPC', 'EDQUOT'];
/**
 * ...and those that mean the store cannot be written at all: an I/O error (an immutable file answers EPERM,
 * which SQLite reports as SQLITE_IOERR_WRITE), a read-only file or file system, a file that cannot be
 * opened, a corrupt page.
 */
const UNWRITABLE_CODES = [
  'SQLITE_IOERR',
  'SQLITE_READONLY',
  'SQLITE_CANTOPEN',
  'SQLITE_PERM',
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
  'EACCES',
  'EPERM',
  'EROFS',
  'EIO',
];

/**
 * Whether `err` (or one of its causes) says the store's disk is full or the store cannot be written;
 * undefined for anything else (a constraint, a bug: not the store's health).
 */
export function storeFault(err: unknown): StoreFault | undefined {
  let depth = 0;
  for (let e: unknown = err; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (FULL_CODES.some((c) => code === c || code.startsWith(`${c}_`))) return 'full';
    if (UNWRITABLE_CODES.some((c) => code === c || code.startsWith(`${c}_`))) return 'unwritable';
  }
  return undefined;
}

/** SQLite's SQLITE_FULL, or the OS's ENOSPC/EDQUOT, possibly wrapped in an AgentError. */
export function isDiskFull(err: unknown): boolean {
  return storeFault(err) === 'full';
}
