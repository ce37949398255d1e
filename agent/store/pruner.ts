import type { Database } from 'better-sqlite3';
import type { ImageKind } from './image-codec.js';
import type { ImageRow, ImageStore } from './image-store.js';
import { isDiskFull } from './open-database.js';

/** Rows deleted per transaction: small enough that the one writer is never held long (a part is waiting). */
export const PRUNE_BATCH = 200;

/** Drift reports per camera the disk budget never drops (the recent history `/api/drift` shows). */
export const DRIFT_REPORTS_KEPT = 100;

/** A decision is synced when no channel still has it undelivered. */
const SYNCED = (alias: string) =>
  `NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = ${alias}.seq AND o.sent_at IS NULL)`;

interface ChildTable {
  table: string;
  column: string;
  by: 'seq' | 'id';
}

export interface PrunedDecisions {
  decisions: number;
  images: number;
  imageBytes: number;
}

/**
 * The only code that deletes stored data; used by the disk budget and the retention sweep. Decisions go
 * only through the append-only guard's door: the `retention_sweep` flag raised and lowered inside the same
 * transaction (so no other statement ever sees it), and only delivered ones (the trigger refuses others).
 *
 * Files go first, rows after (issue 16, failure 4): unlinking a file needs no free space, while deleting a
 * row needs WAL room, which a full disk does not have. So on a full disk the files of the images being
 * dropped are freed even when SQLite cannot yet delete their rows; those rows are kept in `pendingRows` and
 * deleted as soon as SQLite can write. A crash in between leaves rows whose file is gone: the next start
 * finds them (`ImageStore.reconcile`) and deletes them. Nothing is lost (the images were being dropped) and
 * nothing leaks (no file is left that no row names).
 */
export class Pruner {
  private readonly children: ChildTable[];
  /** Image rows whose files are already gone, waiting for SQLite to be able to delete them. */
  private pendingRows: ImageRow[] = [];

  constructor(
    private readonly db: Database,
    private readonly images: ImageStore,
  ) {
    this.children = childTables(db);
  }

  /** Images of delivered decisions, oldest decision first. */
  dropSyncedImages(limit = PRUNE_BATCH): { images: number; bytes: number } {
    return this.dropImages(
      `SELECT i.seq, i.kind, i.sha256, i.bytes FROM images i WHERE ${SYNCED('i')} ORDER BY i.seq LIMIT ?`,
      limit,
    );
  }

  /** Images of any decision, delivered or not, oldest first: the last resort before the disk is full. */
  dropAnyImages(limit = PRUNE_BATCH, maxBytes?: number): { images: number; bytes: number } {
    return this.dropImages(
      'SELECT seq, kind, sha256, bytes FROM images ORDER BY seq LIMIT ?',
      limit,
      maxBytes,
    );
  }

  /** Image rows whose files are gone and whose rows wait for room in SQLite. */
  get pending(): number {
    return this.pendingRows.length;
  }

  /** Deletes the image rows whose files were freed while SQLite could not write; true when none are left. */
  flushPending(): boolean {
    if (this.pendingRows.length === 0) return true;
    const del = this.db.prepare('DELETE FROM images WHERE seq = ? AND kind = ?');
    const rows = this.pendingRows;
    try {
      this.db.transaction(() => {
        for (const r of rows) del.run(r.seq, r.kind);
      })();
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      return false;
    }
    this.pendingRows = [];
    return true;
  }

  /** Delivered decisions (with their images, outbox, outcome and override rows), oldest first. */
  dropSyncedDecisions(limit = PRUNE_BATCH, decidedBefore?: number): PrunedDecisions {
    const rows = this.db
      .prepare(
        `SELECT d.seq, d.id FROM decisions d WHERE ${SYNCED('d')}
         ${decidedBefore === undefined ? '' : 'AND d.decided_at < ?'} ORDER BY d.seq LIMIT ?`,
      )
      .all(...(decidedBefore === undefined ? [] : [decidedBefore]), limit) as { seq: number; id: string }[];
    if (rows.length === 0) return { decisions: 0, images: 0, imageBytes: 0 };
    const imageRows: ImageRow[] = [];
    const getImages = this.db.prepare('SELECT seq, kind, sha256, bytes FROM images WHERE seq = ?');
    const deletes = this.children.map((c) => ({
      by: c.by,
      stmt: this.db.prepare(`DELETE FROM "${c.table}" WHERE "${c.column}" = ?`),
    }));
    const deleteDecision = this.db.prepare('DELETE FROM decisions WHERE seq = ?');
    for (const row of rows) imageRows.push(...(getImages.all(row.seq) as ImageRow[]));
    // files first (see the class comment); a row whose file is already gone (an earlier try) frees nothing
    const freed = this.unlinkFiles(imageRows);
    let decisions = 0;
    try {
      this.db.transaction(() => {
        this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('retention_sweep', '1')").run();
        for (const row of rows) {
          for (const d of deletes) d.stmt.run(d.by === 'seq' ? row.seq : row.id);
          decisions += deleteDecision.run(row.seq).changes;
        }
        this.db.prepare("DELETE FROM meta WHERE key = 'retention_sweep'").run();
      })();
    } catch (err) {
      // the files are freed; their rows wait (not dropped again as images) until SQLite can write
      if (isDiskFull(err)) this.addPending(imageRows);
      throw err;
    }
    this.forgetPending(imageRows);
    return { decisions, images: imageRows.length, imageBytes: freed };
  }

  /** Request-log rows received before `cutoff` (the log is an audit aid, not a decision: age alone decides). */
  dropRequests(cutoff: number, limit = PRUNE_BATCH * 5): number {
    if (!this.hasTable('requests')) return 0;
    return this.db
      .prepare('DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE received_at < ? LIMIT ?)')
      .run(cutoff, limit).changes;
  }

  /** Drift window reports made before `cutoff` (observations about the line, not decisions: age decides). */
  dropDriftReports(cutoff: number, limit = PRUNE_BATCH * 5): number {
    if (!this.hasTable('drift_reports')) return 0;
    return this.db
      .prepare('DELETE FROM drift_reports WHERE id IN (SELECT id FROM drift_reports WHERE ts < ? LIMIT ?)')
      .run(cutoff, limit).changes;
  }

  /**
   * Drift window reports beyond the newest DRIFT_REPORTS_KEPT of each camera, oldest first: the disk budget
   * gives them up before any decision (the technician page's recent history stays).
   */
  dropOldDriftReports(limit = PRUNE_BATCH * 5): number {
    if (!this.hasTable('drift_reports')) return 0;
    return this.db
      .prepare(
        `DELETE FROM drift_reports WHERE id IN (
           SELECT id FROM (
             SELECT id, ROW_NUMBER() OVER (PARTITION BY camera_id ORDER BY id DESC) AS newer FROM drift_reports
           ) WHERE newer > ? ORDER BY id LIMIT ?)`,
      )
      .run(DRIFT_REPORTS_KEPT, limit).changes;
  }

  /**
   * Up to `limit` rows from `sql` (oldest first; rows already pending are skipped), at most `maxBytes` of
   * files: their files first, then their rows (pending on a full disk). `images` counts the rows dropped.
   */
  private dropImages(
    sql: string,
    limit: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): { images: number; bytes: number } {
    this.flushPending();
    const pending = new Set(this.pendingRows.map(keyOf));
    const rows: ImageRow[] = [];
    let bytes = 0;
    for (const r of this.db.prepare(sql).all(limit + pending.size) as ImageRow[]) {
      if (pending.has(keyOf(r))) continue;
      if (rows.length >= limit || bytes >= maxBytes) break;
      rows.push(r);
      bytes += r.bytes;
    }
    if (rows.length === 0) return { images: 0, bytes: 0 };
    const freed = this.unlinkFiles(rows);
    const del = this.db.prepare('DELETE FROM images WHERE seq = ? AND kind = ?');
    try {
      this.db.transaction(() => {
        for (const r of rows) del.run(r.seq, r.kind);
      })();
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      this.addPending(rows); // the files are freed; the rows go once SQLite can write
    }
    return { images: rows.length, bytes: freed };
  }

  /**
   * Removes the files of `rows` that no other row points at (several rows may share one file: identical
   * frames); returns the bytes freed. Rows still to be deleted count as gone.
   */
  private unlinkFiles(rows: readonly ImageRow[]): number {
    const going = new Map<string, number>();
    for (const r of [...rows, ...this.pendingRows]) going.set(r.sha256, (going.get(r.sha256) ?? 0) + 1);
    const refs = this.db.prepare('SELECT count(*) AS n FROM images WHERE sha256 = ?');
    let freed = 0;
    const done = new Set<string>();
    for (const r of rows) {
      if (done.has(r.sha256)) continue;
      done.add(r.sha256);
      const n = (refs.get(r.sha256) as { n: number }).n;
      if (n > (going.get(r.sha256) ?? 0)) continue; // another decision still shows this frame
      if (this.images.removeFile(r.sha256, r.kind as ImageKind)) freed += r.bytes;
    }
    return freed;
  }

  private addPending(rows: readonly ImageRow[]): void {
    const known = new Set(this.pendingRows.map(keyOf));
    this.pendingRows.push(...rows.filter((r) => !known.has(keyOf(r))));
  }

  private forgetPending(rows: readonly ImageRow[]): void {
    if (this.pendingRows.length === 0) return;
    const gone = new Set(rows.map(keyOf));
    this.pendingRows = this.pendingRows.filter((r) => !gone.has(keyOf(r)));
  }

  private hasTable(name: string): boolean {
    return (
      this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined
    );
  }
}

function keyOf(r: ImageRow): string {
  return `${r.seq}/${r.kind}`;
}

/**
 * Every table with a foreign key to `decisions` (outbox, outcomes, overrides, images, and whatever a later
 * migration adds): their rows go with the decision, or the foreign key would refuse the delete.
 */
function childTables(db: Database): ChildTable[] {
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'decisions'")
    .all() as { name: string }[];
  const out: ChildTable[] = [];
  for (const { name } of tables) {
    const fks = db.prepare(`PRAGMA foreign_key_list("${name}")`).all() as {
      table: string;
      from: string;
      to: string | null;
    }[];
    for (const fk of fks) {
      if (fk.table !== 'decisions') continue;
      out.push({ table: name, column: fk.from, by: fk.to === 'id' ? 'id' : 'seq' });
    }
  }
  return out;
}
