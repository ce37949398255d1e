import { statSync } from 'node:fs';
import type { Database, Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { composeDecision, type Decision, type DecisionDraft } from '../decision/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { Service } from '../service.js';
import { openDatabase } from './open-database.js';
import { SeqGuard } from './seq-guard.js';
import { WriteFaults } from './write-faults.js';

export interface OutboxEntry {
  seq: number;
  decision: Decision;
  attempts: number;
}

export interface StoreOptions {
  path: string;
  agentId: string;
  log: Logger;
  now?: () => number;
  /** Delivery channels every decision is queued for (`json`, `sparkplug`). */
  channels?: readonly string[];
  /** FULL (the default, and what the agent uses) survives power loss; NORMAL only process crashes. */
  synchronous?: 'FULL' | 'NORMAL';
}

export interface StoreStats {
  lastSeq: number;
  /** Decisions some channel has not delivered yet. */
  backlog: number;
  bytes: number;
}

export interface DecisionFilter {
  camera?: string;
  verdict?: string;
  partId?: string;
  from?: number;
  to?: number;
  /** Paging: only decisions with a smaller seq (the `nextBefore` of the previous page). */
  before?: number;
  limit: number;
}

/** A decision's identity given before it is stored: a verdict held in memory while the store cannot write. */
export interface DecisionIdentity {
  id: string;
  seq: number;
}

/** One decision to store: `within` runs in its transaction with the new seq (the images rows). */
export interface RecordRequest {
  draft: DecisionDraft;
  within?: ((seq: number) => void) | undefined;
  /** The id and seq handed out earlier (`handOut`) to a decision held while the store could not write. */
  identity?: DecisionIdentity | undefined;
}

/** A stored decision and its payload as written (JSON, `historical: false`): what a live publish sends. */
export interface StoredDecision {
  decision: Decision;
  payload: string;
}

/**
 * The agent's memory and only source of truth. One writer (this process, one connection, an exclusive lock).
 *
 * Durability: WAL with `synchronous = FULL`, so a decision whose insert returned survives a power cut,
 * not just a process crash; it costs one fsync of the WAL per transaction (see `npm run bench:micro -- store`), and decisions ready together
 * share one (`recordAll`: group commit). A decision and its outbox rows are in one transaction: it is never
 * stored without being queued for delivery on every channel. A `SeqGuard` keeps the highest seq handed out
 * outside the WAL too, and `faults` says which writes fail now (issue 16).
 */
export class DecisionStore implements Service {
  readonly name = 'store';
  readonly path: string;
  /** Which writes fail now (a full disk, an unwritable file): what readiness, problems and alerts show. */
  readonly faults: WriteFaults;
  readonly seqGuard: SeqGuard;
  private connection: Database | undefined;
  readonly agentId: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly channels: readonly string[];
  private stmt!: Record<
    | 'insertDecision'
    | 'insertOutbox'
    | 'markSent'
    | 'unsent'
    | 'backlog'
    | 'lastSeq'
    | 'getById'
    | 'hasRef'
    | 'probe',
    Statement
  >;
  private recordTx!: (requests: readonly RecordRequest[]) => StoredDecision[];

  /** Only assigns: the file is opened, checked and migrated by `start()` (or `open()`). */
  constructor(private readonly opts: StoreOptions) {
    this.path = opts.path;
    this.agentId = opts.agentId;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.channels = opts.channels ?? ['json'];
    this.faults = new WriteFaults(this.now);
    this.seqGuard = new SeqGuard(opts.path, this.now, (opts.synchronous ?? 'FULL') === 'FULL');
  }

  /** A store opened right away (tools, tests and benchmarks that have no lifecycle). */
  static open(opts: StoreOptions): DecisionStore {
    const store = new DecisionStore(opts);
    store.open();
    return store;
  }

  /** The one connection (single writer), shared by the store's companions: images, disk budget, retention, audit. */
  get db(): Database {
    if (!this.connection)
      throw new AgentError(ErrorCodes.STORE_OPEN, `the store at ${this.path} is not open`);
    return this.connection;
  }

  get isOpen(): boolean {
    return this.connection?.open ?? false;
  }

  async start(): Promise<void> {
    this.open();
  }

  async stop(): Promise<void> {
    this.close();
  }

  /** Opens the file (integrity check, migrations), checks the seq guard and prepares the statements; once. */
  open(): void {
    if (this.connection) return;
    const db = openDatabase(this.opts);
    this.connection = db;
    try {
      this.seqGuard.open(db, this.lastSeqOf(db));
    } catch (err) {
      db.close();
      this.connection = undefined;
      throw new AgentError(
        ErrorCodes.STORE_OPEN,
        `cannot open the store's seq mark ${this.path}.seq: ${describeError(err)}`,
        { cause: err },
      );
    }
    this.stmt = {
      insertDecision: db.prepare(
        `INSERT INTO decisions (seq, id, camera_id, part_id, verdict, triggered_at, decided_at, payload, source_ref)
         VALUES (@seq, @id, @cameraId, @partId, @verdict, @triggeredAt, @decidedAt, @payload, @sourceRef)`,
      ),
      insertOutbox: db.prepare('INSERT INTO outbox (seq, channel, enqueued_at) VALUES (?, ?, ?)'),
      markSent: db.prepare('UPDATE outbox SET sent_at = ? WHERE seq = ? AND channel = ? AND sent_at IS NULL'),
      unsent: db.prepare(
        `SELECT o.seq, o.attempts, d.payload FROM outbox o JOIN decisions d ON d.seq = o.seq
         WHERE o.channel = ? AND o.sent_at IS NULL AND o.seq > ? AND o.seq < ? ORDER BY o.seq LIMIT ?`,
      ),
      backlog: db.prepare('SELECT count(DISTINCT seq) AS n FROM outbox WHERE sent_at IS NULL'),
      lastSeq: db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'decisions'"),
      getById: db.prepare('SELECT payload FROM decisions WHERE id = ?'),
      hasRef: db.prepare('SELECT 1 FROM decisions WHERE camera_id = ? AND source_ref = ? LIMIT 1'),
      probe: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('write_probe', ?)"),
    };
    // every record is a batch (of one, mostly): one transaction, one fsync, however many decisions
    this.recordTx = db.transaction((requests: readonly RecordRequest[]) =>
      requests.map((r) => this.insert(r)),
    );
  }

  /** One decision and its outbox rows, inside the caller's transaction. */
  private insert({ draft, within, identity }: RecordRequest): StoredDecision {
    // above the highest seq ever stored (sqlite_sequence: AUTOINCREMENT keeps it after deletes) and ever
    // handed out (the guard's mark, outside the WAL); one writer in a transaction makes it race-free
    const seq = identity?.seq ?? this.seqGuard.next(this.lastSeq());
    const decision = composeDecision(draft, { id: identity?.id ?? uuidv7(), seq, agentId: this.agentId });
    const payload = JSON.stringify(decision);
    this.stmt.insertDecision.run({
      seq,
      id: decision.id,
      cameraId: draft.cameraId,
      partId: draft.partId ?? null,
      verdict: draft.verdict,
      triggeredAt: draft.triggeredAt,
      decidedAt: draft.decidedAt,
      payload,
      sourceRef: draft.sourceRef ?? null,
    });
    const at = this.now();
    for (const channel of this.channels) this.stmt.insertOutbox.run(seq, channel, at);
    within?.(seq);
    return { decision, payload };
  }

  /**
   * Stores a decision and queues it for delivery, durably, before anyone is told about it; a failure rolls
   * the whole transaction back. `within` and `identity`: see RecordRequest.
   */
  record(draft: DecisionDraft, within?: (seq: number) => void, identity?: DecisionIdentity): Decision {
    return (this.recordAll([{ draft, within, identity }])[0] as StoredDecision).decision;
  }

  /**
   * Group commit: several decisions in ONE transaction (one fsync of the WAL), seqs in the order given,
   * each with its payload as written. All or nothing: a failure rolls every one of them back (none has a
   * seq or an id then; the caller may store them again, one by one).
   */
  recordAll(requests: readonly RecordRequest[]): StoredDecision[] {
    if (requests.length === 0) return [];
    let stored: StoredDecision[];
    try {
      stored = this.recordTx(requests);
    } catch (err) {
      this.faults.note('record', err);
      const what = requests.length === 1 ? 'a decision' : `${requests.length} decisions`;
      throw new AgentError(ErrorCodes.STORE_WRITE, `cannot store ${what}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.faults.note('record');
    // the mark follows the highest seq: held seqs below it were handed out already (their mark moved then)
    this.advanceMark(Math.max(...stored.map((s) => s.decision.seq)), true);
    return stored;
  }

  /**
   * The identity of a decision that could not be stored now, and is held in memory until it can: its seq
   * counts as handed out (the mark moves; no later decision takes it), and `record(..., identity)` stores it.
   */
  handOut(): DecisionIdentity {
    const seq = this.seqGuard.next(this.lastSeq());
    this.advanceMark(seq, false);
    return { id: uuidv7(), seq };
  }

  /** Entries `channel` has not delivered with `afterSeq < seq < beforeSeq`, oldest first. */
  unsent(channel: string, afterSeq: number, beforeSeq: number, limit: number): OutboxEntry[] {
    const rows = this.stmt.unsent.all(channel, afterSeq, beforeSeq, limit) as {
      seq: number;
      attempts: number;
      payload: string;
    }[];
    return rows.map((r) => ({
      seq: r.seq,
      attempts: r.attempts,
      decision: JSON.parse(r.payload) as Decision,
    }));
  }

  /** Marks decisions delivered on a channel, in one transaction (one fsync for the batch). */
  markSent(channel: string, seqs: readonly number[]): void {
    const at = this.now();
    try {
      this.db.transaction(() => {
        for (const seq of seqs) this.stmt.markSent.run(at, seq, channel);
      })();
    } catch (err) {
      this.faults.note('ack', err);
      throw err;
    }
    this.faults.note('ack');
    try {
      this.seqGuard.acked(Math.max(...seqs));
    } catch (err) {
      this.log.warn({ err }, 'cannot note the highest acknowledged seq beside the store');
    }
  }

  /**
   * A write like a decision's (a new row of a page's size, then gone again, in one transaction): whether the
   * store can take a decision now. Run while writes fail, to see them work again, and by readiness when
   * nothing was written for a while.
   */
  probe(): boolean {
    try {
      this.db.transaction(() => {
        this.stmt.probe.run('x'.repeat(4096));
        this.stmt.probe.run(String(this.now()));
      })();
    } catch (err) {
      this.faults.note('probe', err);
      return false;
    }
    this.faults.note('probe');
    return true;
  }

  /** Whether this camera already has a decision for the frame with this reference (e.g. a file). */
  hasSourceRef(cameraId: string, ref: string): boolean {
    return this.stmt.hasRef.get(cameraId, ref) !== undefined;
  }

  getById(id: string): Decision | undefined {
    const row = this.stmt.getById.get(id) as { payload: string } | undefined;
    return row ? (JSON.parse(row.payload) as Decision) : undefined;
  }

  /** The audit trail: newest first, filtered, paged by seq. Every filter uses an index. */
  list(filter: DecisionFilter): Decision[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (sql: string, value: string | number | undefined) => {
      if (value === undefined) return;
      where.push(sql);
      args.push(value);
    };
    add('camera_id = ?', filter.camera);
    add('verdict = ?', filter.verdict);
    add('part_id = ?', filter.partId);
    add('decided_at >= ?', filter.from);
    add('decided_at <= ?', filter.to);
    add('seq < ?', filter.before);
    const sql = `SELECT payload FROM decisions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY seq DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, filter.limit) as { payload: string }[];
    return rows.map((r) => JSON.parse(r.payload) as Decision);
  }

  /** The highest seq stored (retention and the disk budget never lower it). */
  lastSeq(): number {
    const row = this.stmt.lastSeq.get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  stats(): StoreStats {
    const backlog = (this.stmt.backlog.get() as { n: number }).n;
    return { lastSeq: this.lastSeq(), backlog, bytes: this.bytesOnDisk() };
  }

  /**
   * True when a write transaction can be taken right now and no write is failing (readiness): taking the
   * lock alone writes nothing, so a store whose disk is full or whose files are immutable passed it.
   */
  writable(): boolean {
    if (this.faults.has()) return false;
    try {
      this.db.prepare('BEGIN IMMEDIATE').run();
      this.db.prepare('ROLLBACK').run();
      return true;
    } catch {
      return false;
    }
  }

  /** Copies the WAL into the database and empties it; a failure is noted (`checkpoint`) and rethrown. */
  checkpoint(): void {
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.faults.note('checkpoint', err);
      throw err;
    }
    this.faults.note('checkpoint');
  }

  close(): void {
    if (!this.connection?.open) return;
    try {
      this.checkpoint();
    } catch (err) {
      this.log.warn({ err }, 'WAL checkpoint at close failed');
    }
    this.db.close();
    this.seqGuard.close();
  }

  private lastSeqOf(db: Database): number {
    const row = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'decisions'").get();
    return (row as { seq: number } | undefined)?.seq ?? 0;
  }

  /** The mark follows every seq handed out; a failure to write it is a store fault, not a lost decision. */
  private advanceMark(seq: number, committed: boolean): void {
    try {
      this.seqGuard.handOut(seq, committed);
      this.faults.note('seq-mark');
    } catch (err) {
      this.faults.note('seq-mark', err);
    }
  }

  private bytesOnDisk(): number {
    let total = 0;
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        total += statSync(this.path + suffix).size;
      } catch {
        // the WAL and shm files come and go with checkpoints
      }
    }
    return total;
  }
}
