import { setImmediate as nextTurn } from 'node:timers/promises';
import { describeError } from '../errors.js';
import type { Service, TimerHandle } from '../service.js';
import { fileSize, fileSystemOf, limitWal } from './disk-space.js';
import type { DiskBudgetDeps, DiskUsage, DropKind } from './disk-types.js';
import { isDiskFull } from './open-database.js';

/**
 * The marks, as shares of the budget (each capped for big budgets, where a share would be gigabytes):
 * - dropping starts above `budget - HEADROOM` (5 %, at most 16 MB), before the budget is reached, so what
 *   one more decision writes (its images, its WAL frames) still fits under the budget: the disk really used
 *   stays within it (issue 16, failure 11);
 * - an episode drops down to EPISODE (5 %, at most 32 MB: dropping runs on the event loop between parts)
 *   under that;
 * - once only undelivered data is left (images suspended, DISK_FULL), images come back only when deliveries
 *   let synced data go until usage is CLEAR (10 %, at most 64 MB) under the episode's target. The gap is the
 *   hysteresis: room made by dropping undelivered images never ends the alarm, so the alert cannot flap
 *   and images of undelivered decisions are not written and deleted again in a loop.
 */
const HEADROOM = { share: 0.05, maxBytes: 16 * 1024 * 1024 };
const EPISODE = { share: 0.05, maxBytes: 32 * 1024 * 1024 };
const CLEAR = { share: 0.1, maxBytes: 64 * 1024 * 1024 };
/** A background check catches what deliveries made droppable while no decision was recorded. */
const CHECK_PERIOD_MS = 60_000;
/** While only undelivered data is left, nothing can be dropped: look again at most this often. */
const FULL_RECHECK_MS = 5_000;
/** A WAL above this is checkpointed (TRUNCATE) before anything is dropped: free space, nothing lost. */
const WAL_TRUNCATE_BYTES = 1024 * 1024;

export type { DiskBudgetDeps, DiskUsage, DropKind } from './disk-types.js';

/**
 * Keeps db + WAL + images + the reserve under `store.maxDiskMB`, counted as the disk really holds them (file
 * sizes and blocks). Drop order, oldest first within each step:
 *   a) images of synced decisions (every channel delivered);
 *   a') drift window reports beyond each camera's newest DRIFT_REPORTS_KEPT;
 *   b) synced decision rows (sooner than retention would have), their pages given back to the file system;
 *   c) never an undelivered decision: images of undelivered decisions are dropped and no new images stored
 *      (`isFull`; Storage raises DISK_FULL), while verdicts keep being recorded.
 * `freeSome` is the same order for a disk that is really full, where SQLite itself needs room to delete.
 */
export class DiskBudget implements Service {
  readonly name = 'disk-budget';
  readonly drops: Record<DropKind, number> = {
    image_synced: 0,
    drift_report: 0,
    decision_synced: 0,
    image_unsynced: 0,
    image_not_stored_disk_full: 0,
    image_write_failed: 0,
    image_encode_failed: 0,
    image_late: 0,
    decision_unstored: 0,
  };
  private full = false;
  private lastFullCheck = Number.NEGATIVE_INFINITY;
  private lastError: string | null = null;
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private readonly fullListeners: ((full: boolean, usage: DiskUsage) => void)[] = [];
  private readonly marks: { dropAt: number; target: number; clearAt: number };
  private walLimit = 1000 * 4096;
  /** Bytes of undelivered images dropped since the disk was last found roomy (diskHasRoom). */
  private unsyncedFreed = 0;

  constructor(private readonly deps: DiskBudgetDeps) {
    const budget = deps.maxBytes;
    const part = (p: { share: number; maxBytes: number }) => Math.min(budget * p.share, p.maxBytes);
    const dropAt = budget - part(HEADROOM);
    const target = dropAt - part(EPISODE);
    this.marks = { dropAt, target, clearAt: target - part(CLEAR) };
  }

  async start(): Promise<void> {
    this.limitWal();
    await this.enforce();
    this.schedule();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.settled();
  }

  /** Resolves once no enforcement is running (an episode works across several turns of the event loop). */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** False while only undelivered data is left: new images are not stored (verdicts still are). */
  imagesAllowed(): boolean {
    return !this.full;
  }

  get isFull(): boolean {
    return this.full;
  }

  /** The WAL's checkpoint size (set at start from the budget and the disk). */
  get walLimitBytes(): number {
    return this.walLimit;
  }

  /** Told when `isFull` changes (Storage raises and clears DISK_FULL). */
  onFullChange(listener: (full: boolean, usage: DiskUsage) => void): void {
    this.fullListeners.push(listener);
  }

  count(kind: DropKind, n = 1): void {
    if (n <= 0) return;
    this.drops[kind] += n;
    this.deps.metrics.drops.inc({ kind }, n);
  }

  usage(): DiskUsage {
    const { db } = this.deps;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    // with incremental auto-vacuum the file gives freed pages back: count the file; a store made before
    // (docs/storage.md) keeps freed pages for reuse, and the budget counts its used pages as it always did
    const incremental = (db.pragma('auto_vacuum', { simple: true }) as number) === 2;
    const free = incremental ? 0 : (db.pragma('freelist_count', { simple: true }) as number);
    const dbBytes = incremental
      ? Math.max(pages * pageSize, fileSize(this.deps.dbPath))
      : (pages - free) * pageSize;
    const walBytes = fileSize(`${this.deps.dbPath}-wal`);
    const imagesBytes = this.deps.images.allocated;
    const reserveBytes = this.deps.reserve.bytes;
    const totalBytes = dbBytes + walBytes + imagesBytes + reserveBytes;
    this.deps.metrics.diskBytes.set({ part: 'db' }, dbBytes + walBytes);
    this.deps.metrics.diskBytes.set({ part: 'images' }, imagesBytes);
    return { dbBytes, walBytes, imagesBytes, reserveBytes, totalBytes, budgetBytes: this.deps.maxBytes };
  }

  /** After each stored decision: cheap (a few pragmas, two stats) unless the drop mark is passed. */
  afterRecord(): void {
    if (this.usage().totalBytes <= this.marks.dropAt && !this.full) return;
    if (this.full && this.deps.clock.now() - this.lastFullCheck < FULL_RECHECK_MS) return;
    void this.enforce();
  }

  /** SQLite (or the file system) said the disk is full: noted for the status. */
  onDiskFull(err: unknown): void {
    this.lastError = describeError(err);
  }

  /**
   * A really full disk: frees one step, in the usual order, so a write can be retried; the caller repeats
   * until the write goes through (no more is dropped than needed). Files go before rows (they need no room
   * in SQLite). The reserve file goes only when freeing itself needs room: deleting synced rows (always,
   * the delete following at once) and, with `releaseReserve` (the recovery loop, when acknowledgements fail
   * for room), a checkpoint that must grow the database file; never to store one more new decision. False
   * when nothing is left to free but undelivered decisions.
   */
  freeSome(opts: { releaseReserve?: boolean } = {}): boolean {
    const { pruner } = this.deps;
    const mayRelease = opts.releaseReserve === true;
    if (!this.tryCheckpoint() && mayRelease && this.releaseReserve('a WAL checkpoint needs room')) {
      this.tryCheckpoint();
      return true;
    }
    if (this.freeSynced()) return true;
    const any = pruner.dropAnyImages();
    this.count('image_unsynced', any.images);
    this.unsyncedFreed += any.bytes;
    if (any.images > 0) this.setFull(true, this.usage());
    return any.bytes > 0;
  }

  /** One step of freeing delivered data only (image files, then rows); false when none is left. */
  freeSynced(): boolean {
    const { pruner } = this.deps;
    pruner.flushPending();
    const synced = pruner.dropSyncedImages();
    if (synced.images > 0) {
      this.count('image_synced', synced.images);
      if (synced.bytes > 0) return true;
    }
    const reports = pruner.dropOldDriftReports();
    if (reports > 0) {
      this.count('drift_report', reports);
      return true;
    }
    return this.dropSyncedRows();
  }

  /**
   * One batch of synced decision rows. Deleting needs WAL room: on a full disk the reserve goes, and the
   * delete is tried again at once (the rows freed are worth more than the reserve, and nothing else can
   * take the room in between).
   */
  private dropSyncedRows(): boolean {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const rows = this.deps.pruner.dropSyncedDecisions();
        if (rows.decisions === 0) return false;
        this.count('decision_synced', rows.decisions);
        this.count('image_synced', rows.images);
        this.vacuum();
        return true;
      } catch (err) {
        if (!isDiskFull(err)) throw err;
        if (!this.releaseReserve('deleting synced decisions needs room')) return false;
        this.tryCheckpoint();
      }
    }
    return false;
  }

  /** Deletes the reserve file so SQLite has room to free space; false when it holds nothing. */
  releaseReserve(why: string): boolean {
    const { reserve, log } = this.deps;
    if (reserve.bytes === 0) return false;
    const freed = reserve.release();
    log.warn({ freed, why }, 'disk full: released the reserve file so the store can free space');
    return true;
  }

  /**
   * Drops, in order, until usage is under the episode's target (or `target` bytes). Never throws. Each
   * batch is one transaction; between batches the event loop runs, so parts are decided while a big episode
   * works. An episode already running is joined, not doubled.
   */
  enforce(target = this.marks.target): Promise<void> {
    this.running ??= this.episode(target).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async episode(target: number): Promise<void> {
    const { pruner, log } = this.deps;
    this.lastFullCheck = this.deps.clock.now();
    try {
      let u = this.usage();
      if (u.totalBytes <= this.marks.dropAt && u.totalBytes <= target && !this.full) return;
      if (u.walBytes > WAL_TRUNCATE_BYTES) {
        this.tryCheckpoint();
        u = this.usage();
      }
      // while full, synced data goes down to the clear mark: only that ends the alarm (hysteresis)
      const aim = this.full ? Math.min(target, this.marks.clearAt) : target;
      while (u.totalBytes > aim) {
        const r = pruner.dropSyncedImages();
        if (r.images === 0) break;
        this.count('image_synced', r.images);
        await nextTurn();
        u = this.usage();
      }
      while (u.totalBytes > aim) {
        const n = pruner.dropOldDriftReports();
        if (n === 0) break;
        this.count('drift_report', n);
        await nextTurn();
        u = this.usage();
      }
      let rowsDropped = false;
      while (u.totalBytes > aim) {
        const r = pruner.dropSyncedDecisions();
        if (r.decisions === 0) break;
        rowsDropped = true;
        this.count('decision_synced', r.decisions);
        this.count('image_synced', r.images);
        this.vacuum();
        await nextTurn();
        u = this.usage();
      }
      if (rowsDropped) log.info({ usage: u }, 'disk budget: dropped synced decisions early');
      if (u.totalBytes <= aim) {
        // images come back once the disk itself has room for them too (another program may have filled it)
        if (this.full && this.diskHasRoom()) this.setFull(false, u);
        return;
      }
      if (!this.full && u.totalBytes <= target) return;
      // only undelivered decisions are left: they stay; their oldest images go, just enough of them
      while (u.totalBytes > target) {
        const r = pruner.dropAnyImages(undefined, u.totalBytes - target);
        if (r.images === 0) break;
        this.count('image_unsynced', r.images);
        this.unsyncedFreed += r.bytes;
        await nextTurn();
        u = this.usage();
      }
      this.setFull(true, u);
    } catch (err) {
      this.lastError = describeError(err);
      log.error({ err }, 'disk budget enforcement failed');
    }
  }

  snapshot() {
    return {
      ...this.usage(),
      marks: { ...this.marks },
      full: this.full,
      drops: { ...this.drops },
      lastError: this.lastError,
    };
  }

  /**
   * The disk has room of the hysteresis gap (budget to clear mark; at most a tenth of the file system), not
   * counting what dropping undelivered images freed since the disk was last found roomy: room made that way
   * is spent by the decisions that keep coming, and must not end a DISK_FULL (the images would be written
   * and dropped again in a loop). True when there is no figure to go by.
   */
  diskHasRoom(): boolean {
    const fs = this.fileSystem();
    if (!fs) return true;
    return fs.free - this.unsyncedFreed >= Math.min(this.deps.maxBytes - this.marks.clearAt, fs.size / 10);
  }

  /** DISK_FULL cleared: room made from here on counts again. */
  noteRoom(): void {
    this.unsyncedFreed = 0;
  }

  /** The file system's free bytes where the store lives (null when it cannot be asked). */
  freeOnDisk(): number | null {
    return this.fileSystem()?.free ?? null;
  }

  private fileSystem(): { free: number; size: number } | null {
    return fileSystemOf(this.deps.dbPath);
  }

  private setFull(full: boolean, usage: DiskUsage): void {
    if (full === this.full) return;
    this.full = full;
    if (full) {
      this.lastFullCheck = this.deps.clock.now();
      this.deps.log.error({ usage }, 'disk budget exhausted by undelivered decisions');
    } else {
      this.unsyncedFreed = 0;
      this.deps.log.info({ usage }, 'disk budget: back under the clear mark; images are stored again');
    }
    for (const listener of this.fullListeners) listener(full, usage);
  }

  /** Gives the pages of deleted rows back to the file system (a store with incremental auto-vacuum). */
  private vacuum(): void {
    try {
      this.deps.db.pragma('incremental_vacuum');
      this.deps.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      if (!isDiskFull(err)) throw err;
    }
  }

  /** A TRUNCATE checkpoint; false when it failed for lack of room. */
  private tryCheckpoint(): boolean {
    try {
      this.deps.db.pragma('wal_checkpoint(TRUNCATE)');
      return true;
    } catch (err) {
      this.lastError = describeError(err);
      return !isDiskFull(err);
    }
  }

  /** WAL size from the budget and the disk (disk-space.ts): set once the store is open. */
  private limitWal(): void {
    this.walLimit = limitWal(this.deps.db, this.deps.dbPath, this.deps.maxBytes);
  }

  private schedule(): void {
    this.timer = this.deps.clock.setTimeout(() => {
      void this.enforce().then(() => {
        if (this.timer !== undefined) this.schedule();
      });
    }, CHECK_PERIOD_MS);
  }
}
