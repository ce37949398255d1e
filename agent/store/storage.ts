import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AlertSink } from '../alerts.js';
import type { Decision, DecisionDraft, Evidence } from '../decision/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { EventBus } from '../events.js';
import type { ImageStats, TaskResult } from '../inference/index.js';
import type { AgentMetrics } from '../metrics.js';
import type { Clock, Service } from '../service.js';
import type { DecisionStore } from './decision-store.js';
import { DiskBudget } from './disk-budget.js';
import { CONTENT_TYPES, type ImageKind } from './image-codec.js';
import { ImageStore, type PreparedImage, type WrittenImage } from './image-store.js';
import { Pruner } from './pruner.js';
import { RetentionSweep } from './retention.js';

declare module '../events.js' {
  interface AgentEvents {
    /**
     * A decision is durable in the store (its outbox rows too): publishers may send it now. `imageStats`:
     * what the judged frame looked like to the model (none for ERROR and deadline fallbacks), for drift.
     */
    DecisionStored: { decision: Decision; imageStats?: ImageStats };
  }
}

export interface StorageOptions {
  imagesDir: string;
  maxDiskMB: number;
  retentionDays: number;
  keepOkImageEvery: number;
}

export interface StorageDeps {
  clock: Clock;
  log: Logger;
  metrics: AgentMetrics;
  alerts: AlertSink;
  /** `DecisionStored` is emitted here, once a decision is durable. */
  events: EventBus;
}

export type ImageLookup =
  | { found: true; contentType: string; data: Buffer; sha256: string }
  | { found: false; reason: string };

export const IMAGE_KINDS: readonly ImageKind[] = ['frame', 'annotated', 'anomaly-map'];

/**
 * Time kept back before a verdict's `dueAt` for what follows the encode wait: the image file writes, the
 * decision's FULL-sync commit (an fsync: tens of ms on an SD card or eMMC) and the publish. Encoding waits
 * at most until `dueAt - STORE_MARGIN_MS`, and with less time than this left no encoder is started at all.
 */
export const STORE_MARGIN_MS = 50;

/**
 * The store around the decision log: images kept with decisions, the disk budget and retention. `record`
 * is what the inspectors call: image files first, then the decision and its images rows in one
 * transaction; a failed image never costs the verdict (`image.stored: false`, counted).
 */
export class Storage implements Service {
  readonly name = 'storage';
  private parts: { images: ImageStore; budget: DiskBudget; retention: RetentionSweep } | undefined;

  /** Only assigns: the image folder is reconciled with the store by `start()` (or `open()`). */
  constructor(
    readonly store: DecisionStore,
    private readonly opts: StorageOptions,
    private readonly deps: StorageDeps,
  ) {}

  /** Storage opened right away, on an open store (tools, tests and benchmarks that have no lifecycle). */
  static open(store: DecisionStore, opts: StorageOptions, deps: StorageDeps): Storage {
    const storage = new Storage(store, opts, deps);
    storage.open();
    return storage;
  }

  /** Builds the parts on the (open) store's connection and reconciles image files with their rows; once. */
  open(): void {
    if (this.parts) return;
    const { store, opts, deps } = this;
    const images = new ImageStore(opts.imagesDir, store.db, opts.keepOkImageEvery, deps.log);
    images.reconcile();
    const pruner = new Pruner(store.db, images);
    const budget = new DiskBudget({
      db: store.db,
      dbPath: store.path,
      images,
      pruner,
      maxBytes: opts.maxDiskMB * 1024 * 1024,
      ...deps,
    });
    const retention = new RetentionSweep(pruner, opts.retentionDays, deps);
    this.parts = { images, budget, retention };
  }

  /** Opens, then runs the retention sweep and the disk budget's watch. */
  async start(): Promise<void> {
    this.open();
    await this.retention.start();
    await this.budget.start();
  }

  async stop(): Promise<void> {
    if (!this.parts) return;
    await Promise.all([this.retention.stop(), this.budget.stop()]);
  }

  get images(): ImageStore {
    return this.opened().images;
  }

  get budget(): DiskBudget {
    return this.opened().budget;
  }

  get retention(): RetentionSweep {
    return this.opened().retention;
  }

  private opened() {
    if (!this.parts) throw new AgentError(ErrorCodes.STORE_OPEN, 'image storage is not open');
    return this.parts;
  }

  async record(draft: DecisionDraft, evidence?: Evidence): Promise<Decision> {
    let written: WrittenImage[] = [];
    if (evidence && this.images.wants(draft.cameraId, draft.verdict)) {
      if (this.budget.imagesAllowed()) {
        written = this.write(await this.prepare(evidence, draft));
      } else {
        this.budget.count('image_not_stored_disk_full');
      }
    }
    const at = this.deps.clock.now();
    let decision: Decision;
    try {
      decision = this.store.record(withImages(draft, written), (seq) =>
        this.images.insertRows(seq, written, at),
      );
    } catch (err) {
      this.images.discard(written);
      if (!isDiskFull(err)) throw err;
      decision = this.recordOnFullDisk(draft, err, written.length);
    }
    // the budget check (and any dropping it starts) runs after the verdict is delivered, not before
    setImmediate(() => this.afterRecord());
    const imageStats = evidence?.inference?.imageStats;
    this.deps.events.emit('DecisionStored', { decision, ...(imageStats ? { imageStats } : {}) });
    return decision;
  }

  private afterRecord(): void {
    if (!this.store.isOpen) return; // the agent stopped in between
    try {
      this.budget.afterRecord();
    } catch (err) {
      this.deps.log.error({ err }, 'disk budget check after a decision failed');
    }
  }

  /**
   * The database could not grow: alert, then free space a batch at a time in the drop order and retry,
   * without images, until the verdict is stored or only undelivered decisions are left. A failed
   * transaction rolls back whole, so nothing stored before is touched either way.
   */
  private recordOnFullDisk(draft: DecisionDraft, err: unknown, imagesLost: number): Decision {
    this.budget.onDiskFull(err);
    this.budget.count('image_write_failed', imagesLost);
    let last = err;
    while (this.budget.freeSome()) {
      try {
        return this.store.record(withImages(draft, []));
      } catch (again) {
        if (!isDiskFull(again)) throw again;
        last = again;
      }
    }
    throw new AgentError(
      ErrorCodes.STORE_FULL,
      `the disk is full: this verdict could not be stored (${describeError(last)}); stored decisions are intact`,
      { cause: last },
    );
  }

  /** For `GET /api/decisions/:id/image`. */
  image(decision: Decision | undefined, kind: ImageKind): ImageLookup {
    if (!decision) return { found: false, reason: 'no such decision' };
    const hit = this.images.find(decision.seq, kind);
    if (!hit) return { found: false, reason: whyMissing(decision, kind) };
    try {
      return {
        found: true,
        contentType: CONTENT_TYPES[kind],
        data: readFileSync(hit.path),
        sha256: hit.row.sha256,
      };
    } catch (err) {
      return { found: false, reason: `the image file is missing on disk (${describeError(err)})` };
    }
  }

  snapshot() {
    return {
      imagesDir: this.images.dir,
      images: { files: this.images.files, bytes: this.images.bytes },
      disk: this.budget.snapshot(),
      retention: this.retention.snapshot(),
    };
  }

  /**
   * Encodes within the time left before the verdict is due, less STORE_MARGIN_MS; what is not ready by then
   * is not kept (counted as `image_late`; the verdict is recorded with `image.stored: false`).
   */
  private async prepare(evidence: Evidence, draft: DecisionDraft): Promise<PreparedImage[]> {
    const budgetMs = Math.max(0, evidence.dueAt - STORE_MARGIN_MS - this.deps.clock.now());
    // a fallback is recorded at (or past) its deadline; a frame in its last milliseconds has no time either
    const encode = !draft.degraded && budgetMs > 0;
    const jobs = this.images.prepare(evidence, draft, encode);
    if (jobs.length === 0) {
      this.budget.count('image_late');
      return [];
    }
    const done: (PreparedImage | undefined)[] = jobs.map(() => undefined);
    const failed: boolean[] = jobs.map(() => false);
    const all = Promise.all(
      jobs.map((job, i) =>
        job.then(
          (p) => {
            done[i] = p;
          },
          (err: unknown) => {
            failed[i] = true;
            this.deps.log.warn({ err, cameraId: draft.cameraId }, 'image not kept: encoding failed');
          },
        ),
      ),
    );
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const due = new Promise<void>((resolve) => {
      timer = this.deps.clock.setTimeout(resolve, budgetMs);
    });
    await Promise.race([all, due]);
    if (timer !== undefined) this.deps.clock.clearTimeout(timer);
    const late = jobs.filter((_, i) => !done[i] && !failed[i]).length;
    this.budget.count('image_encode_failed', failed.filter(Boolean).length);
    this.budget.count('image_late', late);
    return done.filter((p): p is PreparedImage => p !== undefined);
  }

  private write(prepared: PreparedImage[]): WrittenImage[] {
    if (prepared.length === 0) return [];
    try {
      return this.images.write(prepared);
    } catch (err) {
      this.budget.count('image_write_failed', prepared.length);
      this.deps.log.error({ err }, 'image not stored: write failed; the verdict is recorded without it');
      if (isDiskFull(err)) this.budget.onDiskFull(err);
      return [];
    }
  }
}

/** The payload's `image` names the stored frame's file; anomaly results say whether their map was kept. */
function withImages(draft: DecisionDraft, written: readonly WrittenImage[]): DecisionDraft {
  const frame = written.find((w) => w.kind === 'frame');
  const image = frame
    ? { sha256: frame.sha256, stored: true }
    : draft.image
      ? { ...draft.image, stored: false }
      : null;
  let result: TaskResult | null = draft.result;
  if (result?.task === 'anomaly') {
    result = { ...result, mapStored: written.some((w) => w.kind === 'anomaly-map') };
  }
  return { ...draft, image, result };
}

function whyMissing(decision: Decision, kind: ImageKind): string {
  if (kind === 'frame' && decision.image?.stored) {
    return 'the image was stored but has since been dropped (disk budget or retention)';
  }
  if (kind !== 'frame') return `no ${kind} image was kept for this decision`;
  return 'no image was kept for this decision (only NG, UNCERTAIN and 1 in store.keepOkImageEvery OK frames are kept)';
}

/** SQLite's SQLITE_FULL, or the OS's ENOSPC/EDQUOT, possibly wrapped in an AgentError. */
export function isDiskFull(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return true;
  }
  return false;
}
