import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { composeDecision, type Decision, type DecisionDraft } from '../decision/index.js';
import { AgentError, ErrorCodes } from '../errors.js';
import type { Service } from '../service.js';
import { migrate } from './migrations.js';

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

/**
 * The agent's memory and only source of truth. One writer (this process, one connection).
 *
 * Durability: WAL with `synchronous = FULL`, so a decision whose insert returned survives a power cut,
 * not just a process crash; it costs one fsync of the WAL per decision (see `npm run bench -- store`),
 * which is cheap next to inference. The decision and its outbox rows are written in one transaction: a
 * decision is never stored without being queued for delivery on every channel.
 */
export class DecisionStore implements Service {
  readonly name = 'store';
  readonly path: string;
  private connection: Database | undefined;
  private readonly agentId: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly channels: readonly string[];
  private stmt!: Record<
    'insertDecision' | 'insertOutbox' | 'markSent' | 'unsent' | 'backlog' | 'lastSeq' | 'getById' | 'hasRef',
    Statement
  >;
  private recordTx!: (draft: DecisionDraft, within?: (seq: number) => void) => Decision;

  /** Only assigns: the file is opened, checked and migrated by `start()` (or `open()`). */
  constructor(private readonly opts: StoreOptions) {
    this.path = opts.path;
    this.agentId = opts.agentId;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.channels = opts.channels ?? ['json'];
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

  /** Opens the file (integrity check, migrations) and prepares the statements; once. */
  open(): void {
    if (this.connection) return;
    this.connection = openDatabase(this.opts);
    this.stmt = {
      insertDecision: this.db.prepare(
        `INSERT INTO decisions (seq, id, camera_id, part_id, verdict, triggered_at, decided_at, payload, source_ref)
         VALUES (@seq, @id, @cameraId, @partId, @verdict, @triggeredAt, @decidedAt, @payload, @sourceRef)`,
      ),
      insertOutbox: this.db.prepare('INSERT INTO outbox (seq, channel, enqueued_at) VALUES (?, ?, ?)'),
      markSent: this.db.prepare(
        'UPDATE outbox SET sent_at = ? WHERE seq = ? AND channel = ? AND sent_at IS NULL',
      ),
      unsent: this.db.prepare(
        `SELECT o.seq, o.attempts, d.payload FROM outbox o JOIN decisions d ON d.seq = o.seq
         WHERE o.channel = ? AND o.sent_at IS NULL AND o.seq > ? AND o.seq < ? ORDER BY o.seq LIMIT ?`,
      ),
      backlog: this.db.prepare('SELECT count(DISTINCT seq) AS n FROM outbox WHERE sent_at IS NULL'),
      lastSeq: this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'decisions'"),
      getById: this.db.prepare('SELECT payload FROM decisions WHERE id = ?'),
      hasRef: this.db.prepare('SELECT 1 FROM decisions WHERE camera_id = ? AND source_ref = ? LIMIT 1'),
    };
    this.recordTx = this.db.transaction((draft: DecisionDraft, within?: (seq: number) => void): Decision => {
      // sqlite_sequence holds the highest seq ever used (AUTOINCREMENT), so a seq is never reused, even
      // after retention deleted rows; one writer inside a transaction makes "last + 1" race-free.
      const seq = this.lastSeq() + 1;
      const decision = composeDecision(draft, { id: uuidv7(), seq, agentId: this.agentId });
      this.stmt.insertDecision.run({
        seq,
        id: decision.id,
        cameraId: draft.cameraId,
        partId: draft.partId ?? null,
        verdict: draft.verdict,
        triggeredAt: draft.triggeredAt,
        decidedAt: draft.decidedAt,
        payload: JSON.stringify(decision),
        sourceRef: draft.sourceRef ?? null,
      });
      const at = this.now();
      for (const channel of this.channels) this.stmt.insertOutbox.run(seq, channel, at);
      within?.(seq);
      return decision;
    });
  }

  /**
   * Stores a decision and queues it for delivery, durably, before anyone is told about it. `within` runs in
   * the same transaction with the new seq (the images rows). A failure rolls the whole transaction back.
   */
  record(draft: DecisionDraft, within?: (seq: number) => void): Decision {
    try {
      return this.recordTx(draft, within);
    } catch (err) {
      throw new AgentError(ErrorCodes.STORE_WRITE, `cannot store a decision: ${(err as Error).message}`, {
        cause: err,
      });
    }
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
    this.db.transaction(() => {
      for (const seq of seqs) this.stmt.markSent.run(at, seq, channel);
    })();
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

  lastSeq(): number {
    const row = this.stmt.lastSeq.get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  stats(): StoreStats {
    const backlog = (this.stmt.backlog.get() as { n: number }).n;
    return { lastSeq: this.lastSeq(), backlog, bytes: this.bytesOnDisk() };
  }

  /** True when a write transaction can be taken right now (readiness). */
  writable(): boolean {
    try {
      this.db.prepare('BEGIN IMMEDIATE').run();
      this.db.prepare('ROLLBACK').run();
      return true;
    } catch {
      return false;
    }
  }

  checkpoint(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  close(): void {
    if (!this.connection?.open) return;
    try {
      this.checkpoint();
    } catch (err) {
      this.log.warn({ err }, 'WAL checkpoint at close failed');
    }
    this.db.close();
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

function openDatabase(opts: StoreOptions): Database {
  const { path, log } = opts;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new BetterSqlite3(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const integrity = db.pragma('quick_check', { simple: true });
    if (integrity !== 'ok') throw new Error(`integrity check failed: ${String(integrity)}`);
    const { from, to, backup } = migrate(db, path);
    if (from !== to) log.info({ from, to, backup }, 'store schema migrated');
    return db;
  } catch (err) {
    throw new AgentError(
      ErrorCodes.STORE_OPEN,
      `cannot open the store at ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
