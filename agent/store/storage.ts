import type { Logger } from 'pino';
import type { AlertSink } from '../alerts.js';
import type { Decision, DecisionDraft, Evidence } from '../decision/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { EventBus } from '../events.js';
import type { ImageStats } from '../inference/index.js';
import { LogLimit } from '../log-limit.js';
import type { AgentMetrics } from '../metrics.js';
import type { Clock, Service } from '../service.js';
import type { DecisionIdentity, DecisionStore, StoredDecision } from './decision-store.js';
import { DiskBudget } from './disk-budget.js';
import { GroupCommit, type ReadyDecision } from './group-commit.js';
import { HeldDecisions } from './held-decisions.js';
import type { ImageKind } from './image-codec.js';
import { ImageStore, type PreparedImage, type WrittenImage } from './image-store.js';
import { isDiskFull, storeFault } from './open-database.js';
import { Pruner } from './pruner.js';
import { MAX_INLINE_FREES, recoverStore } from './recovery.js';
import { ReserveFile, reserveBytes } from './reserve-file.js';
import { RetentionSweep } from './retention.js';
import { RECOVER_PERIOD_MS, StoreHealth } from './store-health.js';
import { type ImageLookup, lookupImage, prepareInTime, STORE_MARGIN_MS, withImages } from './timed-images.js';

export type { ImageLookup } from './timed-images.js';

declare module '../events.js' {
  interface AgentEvents {
    /**
     * A decision is durable in the store (its outbox rows too): publishers may send it now. `evidence` is
     * the frame it judged and the model's output (the anomaly map too), when there was a frame: read-only,
     * for listeners that show it or keep frames of their own (the technician page keeps a reference to the
     * newest; dataset/HardExamples copies what it keeps); they never encode on this turn. `imageStats`:
     * what the judged frame looked like to the model (none for ERROR and deadline fallbacks), for drift.
     * `payload`: the decision exactly as stored (JSON, `historical: false`), so a live publish sends it as is.
     */
    DecisionStored: { decision: Decision; payload?: string; evidence?: Evidence; imageStats?: ImageStats };
  }
}

export interface StorageOptions {
  imagesDir: string;
  maxDiskMB: number;
  retentionDays: number;
  keepOkImageEvery: number;
  /** The reserve file's size (docs/storage.md); none when absent or 0. */
  reserveMB?: number;
}

export interface StorageDeps {
  clock: Clock;
  log: Logger;
  metrics: AgentMetrics;
  alerts: AlertSink;
  /** `DecisionStored` is emitted here, once a decision is durable. */
  events: EventBus;
}

export const IMAGE_KINDS: readonly ImageKind[] = ['frame', 'annotated', 'anomaly-map'];

interface Parts {
  images: ImageStore;
  pruner: Pruner;
  budget: DiskBudget;
  retention: RetentionSweep;
  reserve: ReserveFile;
  health: StoreHealth;
  held: HeldDecisions;
  group: GroupCommit;
}

/**
 * The store around the decision log: images kept with decisions, the disk budget, retention, and the
 * store's health. `record` keeps image files first, then the decision and its images rows in one
 * transaction; a failed image never costs the verdict (`image.stored: false`, counted). `recordOrHold` is
 * what the inspectors call: verdicts ready in the same turn share one transaction (GroupCommit); a verdict
 * the store cannot take is answered degraded and held in memory until it can (HeldDecisions).
 */
export class Storage implements Service {
  readonly name = 'storage';
  private parts: Parts | undefined;
  /** A full or failing disk fails every image: one line a minute, with the count held back. */
  private readonly imageLog = new LogLimit({ windowMs: 60_000 });
  private heldFailedAt = Number.NEGATIVE_INFINITY;

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
    const maxBytes = opts.maxDiskMB * 1024 * 1024;
    const reserve = new ReserveFile(`${store.path}.reserve`, reserveBytes(opts, store.path));
    const budget = new DiskBudget({
      db: store.db,
      dbPath: store.path,
      images,
      pruner,
      reserve,
      maxBytes,
      ...deps,
    });
    const retention = new RetentionSweep(pruner, opts.retentionDays, deps);
    const held = new HeldDecisions(store, (draft, identity) => this.commit(draft, [], identity), deps.log);
    const health = new StoreHealth({
      store,
      budget,
      alerts: deps.alerts,
      clock: deps.clock,
      log: deps.log,
      recover: () => this.recover(),
      held: () => held.size,
    });
    health.attach();
    const group = new GroupCommit({
      commitAll: (ready) => this.commitAll(ready),
      commitOne: (ready) => this.commitOrHold(ready),
    });
    this.parts = { images, pruner, budget, retention, reserve, health, held, group };
  }

  /** Opens, makes the reserve, then runs the retention sweep, the disk budget's watch and the health watch. */
  async start(): Promise<void> {
    this.open();
    const { reserve } = this.opened();
    if (this.store.path !== ':memory:') reserve.ensure();
    await this.retention.start();
    await this.budget.start();
    await this.health.start();
  }

  /** Stops the watches; verdicts still held get one last try, and what cannot be stored is logged. */
  async stop(): Promise<void> {
    if (!this.parts) return;
    await Promise.all([this.retention.stop(), this.budget.stop(), this.health.stop()]);
    if (this.store.isOpen) this.parts.group.flush();
    if (this.store.isOpen && this.parts.held.size > 0) {
      this.store.probe();
      this.parts.held.flush();
    }
    this.parts.held.reportLost();
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

  get health(): StoreHealth {
    return this.opened().health;
  }

  get held(): HeldDecisions {
    return this.opened().held;
  }

  private opened(): Parts {
    if (!this.parts) throw new AgentError(ErrorCodes.STORE_OPEN, 'image storage is not open');
    return this.parts;
  }

  /** Stores a decision with its images; rejects (coded) when the store cannot take it. */
  async record(draft: DecisionDraft, evidence?: Evidence): Promise<Decision> {
    return this.commit(draft, await this.keepImages(draft, evidence), undefined, evidence);
  }

  /**
   * What the line calls: stores the decision, or, when the store cannot write (a full disk with only
   * undelivered data, an unwritable file), answers it degraded and holds it in memory (HeldDecisions).
   * Rejects only when the hold is full too: the shot fails, counted as `decision_unstored`.
   */
  async recordOrHold(draft: DecisionDraft, evidence?: Evidence): Promise<Decision> {
    const { held, group } = this.opened();
    const written = held.size > 0 ? [] : await this.keepImages(draft, evidence);
    return group.add({ draft, written, evidence });
  }

  /** A group of verdicts in one transaction; only while nothing is held (held verdicts are stored first). */
  private commitAll(ready: readonly ReadyDecision[]): Decision[] {
    if (this.opened().held.size > 0) throw new Error('verdicts are held: each goes through the hold');
    const at = this.deps.clock.now();
    const stored = this.store.recordAll(
      ready.map(({ draft, written }) => ({
        draft: withImages(draft, written),
        within: (seq: number) => this.images.insertRows(seq, written, at),
      })),
    );
    this.told(stored.map((s, i) => ({ ...s, evidence: ready[i]?.evidence })));
    return stored.map((s) => s.decision);
  }

  /** One verdict: stored, or held while the store cannot write (from here on synchronous, in queue order). */
  private commitOrHold({ draft, written, evidence }: ReadyDecision): Decision {
    if (this.opened().held.size > 0 && !this.flushHeld()) {
      this.images.discard(written);
      return this.hold(draft, new Error('earlier verdicts are still held'));
    }
    try {
      return this.commit(draft, written, undefined, evidence);
    } catch (err) {
      if (!storeFault(err)) throw err;
      return this.hold(draft, err);
    }
  }

  /**
   * Stores held verdicts before a new one; after a failed try the next is left to the recovery loop for
   * RECOVER_PERIOD_MS, so a store that cannot write costs each new verdict nothing but the hold.
   */
  private flushHeld(): boolean {
    const now = this.deps.clock.now();
    if (now - this.heldFailedAt < RECOVER_PERIOD_MS) return false;
    if (this.opened().held.flush()) return true;
    this.heldFailedAt = now;
    return false;
  }

  /** For `GET /api/decisions/:id/image`. */
  image(decision: Decision | undefined, kind: ImageKind): ImageLookup {
    return lookupImage(this.images, decision, kind);
  }

  snapshot() {
    return {
      imagesDir: this.images.dir,
      images: { files: this.images.files, bytes: this.images.bytes },
      disk: this.budget.snapshot(),
      retention: this.retention.snapshot(),
      health: this.health.snapshot(),
    };
  }

  /** The images a decision keeps (NG, UNCERTAIN, a sample of OK), written before the decision. */
  private async keepImages(draft: DecisionDraft, evidence?: Evidence): Promise<WrittenImage[]> {
    if (!evidence || !this.images.wants(draft.cameraId, draft.verdict)) return [];
    if (!this.budget.imagesAllowed()) {
      this.budget.count('image_not_stored_disk_full');
      return [];
    }
    return this.write(await prepareInTime(this.images, this.budget, evidence, draft, this.deps));
  }

  /**
   * The decision and its images rows in one transaction, then `DecisionStored`. On a full disk: space is
   * freed a step at a time in the drop order and the write retried, without images, until it goes through
   * or only undelivered decisions are left (EVA_ERR_STORE_FULL). A failed transaction rolls back whole, so
   * nothing stored before is touched either way.
   */
  private commit(
    draft: DecisionDraft,
    written: WrittenImage[],
    identity?: DecisionIdentity,
    evidence?: Evidence,
  ): Decision {
    const at = this.deps.clock.now();
    let stored: StoredDecision;
    try {
      const within = (seq: number) => this.images.insertRows(seq, written, at);
      [stored] = this.store.recordAll([{ draft: withImages(draft, written), within, identity }]) as [
        StoredDecision,
      ];
    } catch (err) {
      this.images.discard(written);
      if (!isDiskFull(err)) throw err;
      stored = this.recordOnFullDisk(draft, err, written.length, identity);
    }
    this.told([{ ...stored, evidence }]);
    return stored.decision;
  }

  /** After a commit: `DecisionStored` for each, in seq order; the budget check once, after the verdicts. */
  private told(stored: readonly (StoredDecision & { evidence?: Evidence | undefined })[]): void {
    // the budget check (and any dropping it starts) runs after the verdicts are delivered, not before
    setImmediate(() => this.afterRecord());
    for (const { decision, payload, evidence } of stored) {
      const imageStats = evidence?.inference?.imageStats;
      this.deps.events.emit('DecisionStored', {
        decision,
        payload,
        ...(evidence ? { evidence } : {}),
        ...(imageStats ? { imageStats } : {}),
      });
    }
  }

  private afterRecord(): void {
    if (!this.store.isOpen) return; // the agent stopped in between
    try {
      this.budget.afterRecord();
    } catch (err) {
      this.deps.log.error({ err }, 'disk budget check after a decision failed');
    }
  }

  private recordOnFullDisk(
    draft: DecisionDraft,
    err: unknown,
    imagesLost: number,
    identity?: DecisionIdentity,
  ): StoredDecision {
    this.budget.onDiskFull(err);
    this.budget.count('image_write_failed', imagesLost);
    let last = err;
    for (let i = 0; i < MAX_INLINE_FREES && this.budget.freeSome(); i++) {
      try {
        return this.store.recordAll([{ draft: withImages(draft, []), identity }])[0] as StoredDecision;
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

  /** A verdict the store refused: held, or (the hold full) refused with the store's coded error. */
  private hold(draft: DecisionDraft, cause: unknown): Decision {
    const { held, health } = this.opened();
    if (held.isFull) {
      this.budget.count('decision_unstored');
      const code = storeFault(cause) === 'unwritable' ? ErrorCodes.STORE_UNWRITABLE : ErrorCodes.STORE_FULL;
      throw new AgentError(
        code,
        `this verdict could not be stored and ${held.size} are already held in memory: ${describeError(cause)}`,
        { cause },
      );
    }
    const decision = held.hold(withImages(draft, []), cause);
    health.scheduleRecovery();
    return decision;
  }

  /** One recovery try (StoreHealth calls it while writes fail or verdicts are held): recovery.ts. */
  private recover(): void {
    const { budget, pruner, held, reserve, health } = this.opened();
    const reserveSize = () => reserveBytes(this.opts, this.store.path);
    recoverStore({ store: this.store, budget, pruner, held, reserve, health, reserveSize });
  }

  private write(prepared: PreparedImage[]): WrittenImage[] {
    if (prepared.length === 0) return [];
    try {
      return this.images.write(prepared);
    } catch (err) {
      this.budget.count('image_write_failed', prepared.length);
      const line = this.imageLog.take('write', this.deps.clock.now());
      if (line.write) {
        this.deps.log.error(
          { err, ...(line.held > 0 ? { suppressed: line.held } : {}) },
          'image not stored: write failed; the verdict is recorded without it',
        );
      }
      if (isDiskFull(err)) {
        this.budget.onDiskFull(err);
        this.budget.freeSome(); // a step now: the next frame's image may fit
      }
      return [];
    }
  }
}

export { isDiskFull, STORE_MARGIN_MS };
