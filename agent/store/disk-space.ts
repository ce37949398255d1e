import { statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database } from 'better-sqlite3';

/**
 * The WAL is checkpointed once it holds this share of the smaller of the budget and the file system (at
 * least 16 pages, at most SQLite's default 1000): a WAL of SQLite's default 4 MB alone would fill a small
 * disk, and a checkpoint on a full disk may need as much room as the WAL holds. The file is also cut back
 * to that size after each checkpoint (`journal_size_limit`).
 */
const WAL_SHARE = 1 / 32;

/** Sets the WAL's checkpoint size for a store of `maxBytes` on the disk holding `dbPath`; returns it in bytes. */
export function limitWal(db: Database, dbPath: string, maxBytes: number): number {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const fs = fileSystemOf(dbPath);
  const room = fs ? Math.min(maxBytes, fs.size) : maxBytes;
  const pages = Math.max(16, Math.min(1000, Math.floor((room * WAL_SHARE) / pageSize)));
  db.pragma(`wal_autocheckpoint = ${pages}`);
  db.pragma(`journal_size_limit = ${pages * pageSize}`);
  return pages * pageSize;
}

/** The file system holding `path`: its free bytes (for this user) and its size; null when it cannot be asked. */
export function fileSystemOf(path: string): { free: number; size: number } | null {
  try {
    const fs = statfsSync(dirname(path));
    return { free: fs.bavail * fs.bsize, size: fs.blocks * fs.bsize };
  } catch {
    return null; // :memory:, or a directory gone
  }
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // no WAL file right after a TRUNCATE checkpoint at close, or before the first write
  }
}
