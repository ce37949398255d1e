import type { Database } from 'better-sqlite3';
import type { Decision, Verdict } from '../decision/index.js';
import type { AuditLog, Outcome, Override } from './audit-log.js';
import { type Connection, LazyStatements } from './connection.js';

export interface AuditFilter {
  camera?: string | undefined;
  verdict?: Verdict | undefined;
  partId?: string | undefined;
  /** decidedAt >= from (epoch ms) */
  from?: number | undefined;
  /** decidedAt <= to (epoch ms) */
  to?: number | undefined;
  /** Paging cursor: the `nextBefore` of the previous page (a seq); this page starts after that decision. */
  before?: number | undefined;
  limit: number;
}

export interface AuditPage {
  decisions: Decision[];
  /** The cursor for the next (older) page, or null when this page is the last. */
  nextBefore: number | null;
}

/** A decision as the audit trail shows it: exactly as published, plus what was learned about it later. */
export type AuditedDecision = Decision & { outcomes: Outcome[]; overrides: Override[] };

/**
 * The audit trail query. Newest first means by `decided_at`, then `seq` (the order the verdicts were
 * given; seq breaks ties), and every filter combination walks one index in exactly that order: the page
 * costs `limit` rows whatever the table's size, with no sort. Which index leads is chosen here, not left to
 * the planner (without ANALYZE statistics it cannot tell that a part id is rarer than a camera): columns
 * that must not lead get a unary `+`, which keeps their index out of the plan.
 */
export class AuditQuery {
  private readonly statements: LazyStatements<ReturnType<typeof AuditQuery.prepare>>;

  /** Only assigns: statements are prepared on first use, once the store is open. */
  constructor(
    private readonly connection: Connection,
    private readonly log: AuditLog,
  ) {
    this.statements = new LazyStatements(connection, AuditQuery.prepare);
  }

  private get db(): Database {
    return this.connection.db;
  }

  private get stmt() {
    return this.statements.get();
  }

  private static prepare(db: Database) {
    return {
      cursorAt: db.prepare('SELECT seq, decided_at AS decidedAt FROM decisions WHERE seq = ?'),
      nearestBelow: db.prepare(
        'SELECT seq, decided_at AS decidedAt FROM decisions WHERE seq < ? ORDER BY seq DESC LIMIT 1',
      ),
      bySeq: db.prepare('SELECT payload FROM decisions WHERE seq = ?'),
      byId: db.prepare('SELECT payload FROM decisions WHERE id = ?'),
      countsSince: db.prepare(
        `SELECT camera_id AS cameraId, verdict, decided_at / 60000 AS minute, count(*) AS n
         FROM decisions WHERE decided_at >= ? GROUP BY camera_id, verdict, minute`,
      ),
    };
  }

  page(filter: AuditFilter): AuditPage {
    const { sql, args } = this.plan(filter);
    if (sql === undefined) return { decisions: [], nextBefore: null };
    const rows = this.db.prepare(sql).all(...args) as { seq: number; payload: string }[];
    const more = rows.length > filter.limit;
    const page = more ? rows.slice(0, filter.limit) : rows;
    return {
      decisions: page.map((r) => JSON.parse(r.payload) as Decision),
      nextBefore: more ? (page.at(-1)?.seq ?? null) : null,
    };
  }

  /** One decision by id (or by seq, which plant people quote), with its outcomes and overrides. */
  detail(idOrSeq: string): AuditedDecision | undefined {
    const row = (
      /^[1-9][0-9]{0,15}$/.test(idOrSeq) ? this.stmt.bySeq.get(Number(idOrSeq)) : this.stmt.byId.get(idOrSeq)
    ) as { payload: string } | undefined;
    if (!row) return undefined;
    const decision = JSON.parse(row.payload) as Decision;
    return {
      ...decision,
      outcomes: this.log.outcomesOf(decision.id),
      overrides: this.log.overridesOf(decision.id),
    };
  }

  /**
   * Decisions per camera, verdict and minute since `since` (epoch ms), for the counts the page shows after a
   * restart. One pass over the time index: an hour at 30 decisions a second is about 100k rows, read once
   * at start.
   */
  countsSince(since: number): { cameraId: string; verdict: Verdict; minute: number; n: number }[] {
    return this.stmt.countsSince.all(since) as {
      cameraId: string;
      verdict: Verdict;
      minute: number;
      n: number;
    }[];
  }

  /** The SQL and arguments for a page (exported for the plan checks); no SQL when the cursor is past the end. */
  plan(filter: AuditFilter): { sql: string | undefined; args: (string | number)[] } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const lead = filter.partId !== undefined ? 'part' : 'camera-verdict';
    const eq = (column: string, value: string | undefined, leads: boolean) => {
      if (value === undefined) return;
      where.push(`${leads ? '' : '+'}${column} = ?`);
      args.push(value);
    };
    eq('part_id', filter.partId, true);
    // camera and verdict lead together (decisions_camera_verdict_decided), alone (their own index), or step
    // aside for a part id, which is the most selective
    eq('camera_id', filter.camera, lead !== 'part');
    eq('verdict', filter.verdict, lead !== 'part');

    let upper = filter.to;
    if (filter.before !== undefined) {
      const cursor = this.cursor(filter.before);
      if (!cursor) return { sql: undefined, args: [] };
      upper = upper === undefined ? cursor.decidedAt : Math.min(upper, cursor.decidedAt);
      // rows strictly after the cursor in (decided_at DESC, seq DESC) order; the bound on decided_at above
      // is what the index range uses, this only sorts out the rows sharing the cursor's millisecond
      where.push('(decided_at < ? OR seq < ?)');
      args.push(cursor.decidedAt, cursor.seq);
    }
    if (filter.from !== undefined) {
      where.push('decided_at >= ?');
      args.push(filter.from);
    }
    if (upper !== undefined) {
      where.push('decided_at <= ?');
      args.push(upper);
    }
    // with camera and verdict both given and a time range, the planner's guess (without statistics) is the
    // verdict index, which walks every camera's rows: name the index that holds both
    const both = lead !== 'part' && filter.camera !== undefined && filter.verdict !== undefined;
    const table = both ? 'decisions INDEXED BY decisions_camera_verdict_decided' : 'decisions';
    const sql = `SELECT seq, payload FROM ${table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY decided_at DESC, seq DESC LIMIT ?`;
    args.push(filter.limit + 1);
    return { sql, args };
  }

  /**
   * The position a `before=<seq>` cursor stands for. A cursor whose decision is gone (retention deleted
   * it between two pages) or was never there (a seq typed by hand) continues from the nearest decision
   * below it, inclusive, so nothing older is skipped.
   */
  private cursor(before: number): { seq: number; decidedAt: number } | undefined {
    const exact = this.stmt.cursorAt.get(before) as { seq: number; decidedAt: number } | undefined;
    if (exact) return exact;
    const below = this.stmt.nearestBelow.get(before) as { seq: number; decidedAt: number } | undefined;
    return below ? { seq: below.seq + 1, decidedAt: below.decidedAt } : undefined;
  }
}
