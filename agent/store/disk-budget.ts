import { statSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { AlertSink } from '../alerts.js';
import { describeError } from '../errors.js';
import type { AgentMetrics } from '../metrics.js';
import type { Clock, Service, TimerHandle } from '../service.js';
import type { ImageStore } from './image-store.js';
import type { Pruner } from './pruner.js';

/** Dropping stops once usage is back under this share of the budget, so it does not run on every frame. */
const LOW_WATER = 0.9;
/**
 * ...but one episode frees at most this much: dropping runs on the event loop between parts (one unlink per
 * file), and 10 % of a large budget at once could hold a part past its deadline.
 */
const MAX_EPISODE_BYTES = 32 * 1024 * 1024;
/** A background check catches what deliveries made droppable while no decision was recorded. */
const CHECK_PERIOD_MS = 60_000;
/** While only undelivered data is left, nothing can be dropped: look again at most this often. */
const FULL_RECHECK_MS = 5_000;
/** A WAL above this is checkpointed (TRUNCATE) before anything is dropped: free space, nothing lost. */
const WAL_TRUNCATE_BYTES = 1024 * 1024;

export type DropKind =
  | 'image_synced'
  | 'drift_report'
  | 'decision_synced'
  | 'image_unsynced'
  | 'image_not_stored_disk_full'
  | 'image_write_failed'
  | 'image_encode_failed'
  | 'image_late';

export interface DiskUsage {
  dbBytes: number;
  walBytes: number;
  imagesBytes: number;
  totalBytes: number;
  budgetBytes: number;
}

export interface DiskBudgetDeps {
  db: Database;
  dbPath: string;
  images: ImageStore;
  pruner: Pruner;
  maxBytes: number;
  alerts: AlertSink;
  clock: Clock;
  log: Logger;
  metrics: AgentMetrics;
}

/**
 * Keeps db + WAL + images under `store.maxDiskMB`. Drop order, oldest first within each step:
 *   a) images of synced decisions (every channel delivered);
 *   a') drift window reports beyond each camera's newest DRIFT_REPORTS_KEPT;
 *   b) synced decision rows (sooner than retention would have);
 *   c) never an undelivered decision: a critical DISK_FULL alert, images of undelivered decisions dropped
 *      and no new images stored, while verdicts keep being recorded.
 * Usage is a running figure: image bytes are counted per write and delete, the database is its used pages
 * (freed pages are reused before the file grows, so they are not counted) plus the WAL file.
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
  };
  private full = false;
  /** DISK_FULL is active (budget exhausted, or SQLite refused a write). */
  private alerting = false;
  private lastFullCheck = Number.NEGATIVE_INFINITY;
  private lastError: string | null = null;
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly deps: DiskBudgetDeps) {}

  async start(): Promise<void> {
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

  count(kind: DropKind, n = 1): void {
    if (n <= 0) return;
    this.drops[kind] += n;
    this.deps.metrics.drops.inc({ kind }, n);
  }

  usage(): DiskUsage {
    const { db } = this.deps;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    const dbBytes = (pages - free) * pageSize;
    const walBytes = fileSize(`${this.deps.dbPath}-wal`);
    const imagesBytes = this.deps.images.bytes;
    const totalBytes = dbBytes + walBytes + imagesBytes;
    this.deps.metrics.diskBytes.set({ part: 'db' }, dbBytes + walBytes);
    this.deps.metrics.diskBytes.set({ part: 'images' }, imagesBytes);
    return { dbBytes, walBytes, imagesBytes, totalBytes, budgetBytes: this.deps.maxBytes };
  }

  /** After each stored decision: cheap (three pragmas, one stat) unless the budget is exceeded. */
  afterRecord(): void {
    if (this.alerting && !this.full) this.raise(false, 'the store writes again');
    if (this.usage().totalBytes <= this.deps.maxBytes && !this.full) return;
    if (this.full && this.deps.clock.now() - this.lastFullCheck < FULL_RECHECK_MS) return;
    void this.enforce();
  }

  /** SQLite (or the file system) said the disk is full: a critical alert, cleared by the next good write. */
  onDiskFull(err: unknown): void {
    this.lastError = describeError(err);
    this.deps.log.error({ err }, 'the store cannot write: disk full');
    this.raise(true, `the store cannot write, the disk is full (${this.lastError}); freeing space`);
  }

  /**
   * After a disk-full write: frees one batch, in the usual order, so the write can be retried; the caller
   * repeats until the write goes through (no more is dropped than needed). False when nothing is left
   * to drop but undelivered decisions.
   */
  freeSome(): boolean {
    const { pruner } = this.deps;
    try {
      this.deps.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.deps.log.warn({ err }, 'WAL checkpoint on a full disk failed');
    }
    const synced = pruner.dropSyncedImages();
    if (synced.images > 0) {
      this.count('image_synced', synced.images);
      return true;
    }
    const reports = pruner.dropOldDriftReports();
    if (reports > 0) {
      this.count('drift_report', reports);
      return true;
    }
    const rows = pruner.dropSyncedDecisions();
    if (rows.decisions > 0) {
      this.count('decision_synced', rows.decisions);
      this.count('image_synced', rows.images);
      return true;
    }
    const any = pruner.dropAnyImages();
    this.count('image_unsynced', any.images);
    if (any.images > 0 && !this.full) {
      this.full = true; // only undelivered data is left: no new images until there is room again
      this.lastFullCheck = this.deps.clock.now();
    }
    return any.images > 0;
  }

  /**
   * Drops, in order, until usage is under the low-water mark (or `target` bytes). Never throws. Each batch
   * is one transaction; between batches the event loop runs, so parts are decided while a big episode
   * works. An episode already running is joined, not doubled.
   */
  enforce(
    target = Math.max(this.deps.maxBytes * LOW_WATER, this.deps.maxBytes - MAX_EPISODE_BYTES),
  ): Promise<void> {
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
      if (u.totalBytes <= target && !this.full) return;
      if (u.walBytes > WAL_TRUNCATE_BYTES) {
        this.deps.db.pragma('wal_checkpoint(TRUNCATE)');
        u = this.usage();
      }
      while (u.totalBytes > target) {
        const r = pruner.dropSyncedImages();
        if (r.images === 0) break;
        this.count('image_synced', r.images);
        await nextTurn();
        u = this.usage();
      }
      while (u.totalBytes > target) {
        const n = pruner.dropOldDriftReports();
        if (n === 0) break;
        this.count('drift_report', n);
        await nextTurn();
        u = this.usage();
      }
      while (u.totalBytes > target) {
        const r = pruner.dropSyncedDecisions();
        if (r.decisions === 0) break;
        this.count('decision_synced', r.decisions);
        this.count('image_synced', r.images);
        await nextTurn();
        u = this.usage();
      }
      if (u.totalBytes <= target) {
        if (this.full) {
          this.full = false;
          this.raise(false, 'the store is back within store.maxDiskMB; images are stored again');
        }
        return;
      }
      // only undelivered decisions are left: they stay; their images go, and no new ones are kept
      while (u.totalBytes > target) {
        const r = pruner.dropAnyImages();
        if (r.images === 0) break;
        this.count('image_unsynced', r.images);
        await nextTurn();
        u = this.usage();
      }
      if (!this.full) {
        this.full = true;
        log.error({ usage: u }, 'disk budget exhausted by undelivered decisions');
      }
      this.raise(
        true,
        `store.maxDiskMB reached (${mb(u.totalBytes)} of ${mb(u.budgetBytes)} MB) and only undelivered decisions remain: verdicts are still recorded, images are not; restore delivery (broker) or raise store.maxDiskMB`,
      );
    } catch (err) {
      this.lastError = describeError(err);
      log.error({ err }, 'disk budget enforcement failed');
    }
  }

  snapshot() {
    return { ...this.usage(), full: this.full, drops: { ...this.drops }, lastError: this.lastError };
  }

  private raise(active: boolean, message: string): void {
    this.alerting = active;
    this.deps.alerts.raise({ code: 'DISK_FULL', severity: 'critical', active, message });
  }

  private schedule(): void {
    this.timer = this.deps.clock.setTimeout(() => {
      void this.enforce().then(() => {
        if (this.timer !== undefined) this.schedule();
      });
    }, CHECK_PERIOD_MS);
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // no WAL file right after a TRUNCATE checkpoint at close, or before the first write
  }
}

function mb(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}
