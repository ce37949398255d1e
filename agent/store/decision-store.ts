import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { composeDecision, type Decision, type DecisionDraft } from '../decision/index.js';
import { AgentError, ErrorCodes } from '../errors.js';
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
  /** FULL (the default, and what the agent uses) survives power loss; NORMAL only process crashes. */
  synchronous?: 'FULL' | 'NORMAL';
}

export interface StoreStats {
  lastSeq: number;
  backlog: number;
  bytes: number;
}

/**
 * The agent's memory and only source of truth. One writer (this process, one connection).
 *
 * Durability: WAL with `synchronous = FULL`, so a decision whose insert returned survives a power cut,
 * not just a process crash; it costs one fsync of the WAL per decision (well under a millisecond to a few
 * milliseconds on an SSD), which is cheap next to inference. The decision and its outbox row are written in
 * one transaction: a decision is never stored without being queued for delivery.
 */
export class DecisionStore {
  private readonly db: Database;
  private readonly insertDecision: Statement;
  private readonly insertOutbox: Statement;
  private readonly markSentStmt: Statement;
  private readonly unsentAfterStmt: Statement;
  private readonly backlogStmt: Statement;
  private readonly lastSeqStmt: Statement;
  private readonly getByIdStmt: Statement;
  private readonly recordTx: (draft: DecisionDraft) => Decision;

  readonly path: string;
  private readonly agentId: string;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(opts: StoreOptions) {
    this.path = opts.path;
    this.agentId = opts.agentId;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    const { path, log } = opts;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new BetterSqlite3(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
      this.db.pragma('foreign_keys = ON');
      this.db.pragma('busy_timeout = 5000');
      const integrity = this.db.pragma('quick_check', { simple: true });
      if (integrity !== 'ok') throw new Error(`integrity check failed: ${String(integrity)}`);
      const { from, to } = migrate(this.db);
      if (from !== to) log.info({ from, to }, 'store schema migrated');
    } catch (err) {
      throw new AgentError(
        ErrorCodes.STORE_OPEN,
        `cannot open the store at ${path}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    this.insertDecision = this.db.prepare(
      `INSERT INTO decisions (seq, id, camera_id, part_id, verdict, triggered_at, decided_at, payload)
       VALUES (@seq, @id, @cameraId, @partId, @verdict, @triggeredAt, @decidedAt, @payload)`,
    );
    this.insertOutbox = this.db.prepare('INSERT INTO outbox (seq, enqueued_at) VALUES (?, ?)');
    this.markSentStmt = this.db.prepare('UPDATE outbox SET sent_at = ? WHERE seq = ? AND sent_at IS NULL');
    this.unsentAfterStmt = this.db.prepare(
      `SELECT o.seq, o.attempts, d.payload FROM outbox o JOIN decisions d ON d.seq = o.seq
       WHERE o.sent_at IS NULL AND o.seq > ? AND o.seq < ? ORDER BY o.seq LIMIT ?`,
    );
    this.backlogStmt = this.db.prepare('SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL');
    this.lastSeqStmt = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'decisions'");
    this.getByIdStmt = this.db.prepare('SELECT payload FROM decisions WHERE id = ?');

    this.recordTx = this.db.transaction((draft: DecisionDraft): Decision => {
      // sqlite_sequence holds the highest seq ever used (AUTOINCREMENT), so a seq is never reused, even
      // after retention deleted rows; one writer inside a transaction makes "last + 1" race-free.
      const seq = this.lastSeq() + 1;
      const decision = composeDecision(draft, { id: uuidv7(), seq, agentId: this.agentId });
      this.insertDecision.run({
        seq,
        id: decision.id,
        cameraId: draft.cameraId,
        partId: draft.partId ?? null,
        verdict: draft.verdict,
        triggeredAt: draft.triggeredAt,
        decidedAt: draft.decidedAt,
        payload: JSON.stringify(decision),
      });
      this.insertOutbox.run(seq, this.now());
      return decision;
    });
  }

  /** Stores a decision and queues it for delivery, durably, before anyone is told about it. */
  record(draft: DecisionDraft): Decision {
    try {
      return this.recordTx(draft);
    } catch (err) {
      throw new AgentError(ErrorCodes.STORE_WRITE, `cannot store a decision: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Unsent entries with `afterSeq < seq < beforeSeq`, oldest first. */
  unsent(afterSeq: number, beforeSeq: number, limit: number): OutboxEntry[] {
    const rows = this.unsentAfterStmt.all(afterSeq, beforeSeq, limit) as {
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

  /** Marks delivered decisions, in one transaction (one fsync for the batch). */
  markSent(seqs: readonly number[]): void {
    const at = this.now();
    this.db.transaction(() => {
      for (const seq of seqs) this.markSentStmt.run(at, seq);
    })();
  }

  getById(id: string): Decision | undefined {
    const row = this.getByIdStmt.get(id) as { payload: string } | undefined;
    return row ? (JSON.parse(row.payload) as Decision) : undefined;
  }

  /** Newest first; the audit trail's first cut. */
  list(filter: { camera?: string; verdict?: string; limit: number }): Decision[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.camera) {
      where.push('camera_id = ?');
      args.push(filter.camera);
    }
    if (filter.verdict) {
      where.push('verdict = ?');
      args.push(filter.verdict);
    }
    const sql = `SELECT payload FROM decisions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY seq DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, filter.limit) as { payload: string }[];
    return rows.map((r) => JSON.parse(r.payload) as Decision);
  }

  lastSeq(): number {
    const row = this.lastSeqStmt.get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  stats(): StoreStats {
    const backlog = (this.backlogStmt.get() as { n: number }).n;
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
    if (!this.db.open) return;
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
