import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { type Connection, LazyStatements } from '../store/index.js';

export interface ShadowRow {
  model: string;
  camera: string;
  activeVersion: string;
  shadowVersion: string;
  at: number;
  activeVerdict: string | null;
  shadowVerdict: string | null;
  activeTop: string | null;
  shadowTop: string | null;
  agree: boolean;
  activeMs: number | null;
  shadowMs: number | null;
  error: string | null;
}

/** What a candidate did on the line so far: the figures a plant engineer reads before promoting it. */
export interface ShadowReport {
  version: string;
  since: number;
  frames: number;
  agreed: number;
  /** agreed / frames; null before the first frame */
  agreement: number | null;
  errors: number;
  /** frames not shadowed because the candidate was still busy with an earlier one */
  skipped: number;
  activeMsMean: number | null;
  shadowMsMean: number | null;
}

/** Rows kept: a shadow left running for months must not fill the disk (oldest go first). */
const MAX_ROWS = 100_000;
const TRIM_EVERY = 1_000;

export function emptyReport(version: string, since: number): ShadowReport {
  return {
    version,
    since,
    frames: 0,
    agreed: 0,
    agreement: null,
    errors: 0,
    skipped: 0,
    activeMsMean: null,
    shadowMsMean: null,
  };
}

export function addToReport(r: ShadowReport, row: ShadowRow): ShadowReport {
  if (row.error) return { ...r, errors: r.errors + 1 };
  const frames = r.frames + 1;
  const agreed = r.agreed + (row.agree ? 1 : 0);
  const mean = (old: number | null, x: number | null) =>
    x === null ? old : old === null ? x : old + (x - old) / frames;
  return {
    ...r,
    frames,
    agreed,
    agreement: agreed / frames,
    activeMsMean: mean(r.activeMsMean, row.activeMs),
    shadowMsMean: mean(r.shadowMsMean, row.shadowMs),
  };
}

/**
 * `shadow_results` rows, on the agent's one connection (`DecisionStore.db`, whose migrations create the
 * table): one writer, and no second connection whose busy wait would block the event loop. Shadow rows
 * never enter the outbox, so they are never published. The connection's owner closes it.
 */
export class ShadowStore {
  private readonly statements: LazyStatements<{ insert: Database.Statement; trim: Database.Statement }>;
  private inserted = 0;

  /** Only assigns: statements are prepared on first use, once the store is open. */
  constructor(
    private readonly connection: Connection,
    private readonly log: Logger,
  ) {
    this.statements = new LazyStatements(connection, (db) => ({
      insert: db.prepare(
        `INSERT INTO shadow_results (model, camera, active_version, shadow_version, at, active_verdict,
          shadow_verdict, active_top, shadow_top, agree, active_ms, shadow_ms, error)
         VALUES (@model, @camera, @activeVersion, @shadowVersion, @at, @activeVerdict, @shadowVerdict,
          @activeTop, @shadowTop, @agree, @activeMs, @shadowMs, @error)`,
      ),
      trim: db.prepare('DELETE FROM shadow_results WHERE id <= (SELECT max(id) FROM shadow_results) - ?'),
    }));
  }

  private get db(): Database.Database {
    return this.connection.db;
  }

  record(row: ShadowRow): void {
    try {
      this.statements.get().insert.run({ ...row, agree: row.agree ? 1 : 0 });
      if (++this.inserted % TRIM_EVERY === 0) this.statements.get().trim.run(MAX_ROWS);
    } catch (err) {
      // a comparison row lost is not a decision lost: log it and go on
      this.log.warn({ err }, 'shadow result not stored');
    }
  }

  list(model: string, version?: string, limit = 100): ShadowRow[] {
    const rows = this.db
      .prepare(
        `SELECT model, camera, active_version AS activeVersion, shadow_version AS shadowVersion, at,
          active_verdict AS activeVerdict, shadow_verdict AS shadowVerdict, active_top AS activeTop,
          shadow_top AS shadowTop, agree, active_ms AS activeMs, shadow_ms AS shadowMs, error
         FROM shadow_results WHERE model = ? AND (? IS NULL OR shadow_version = ?) ORDER BY id DESC LIMIT ?`,
      )
      .all(model, version ?? null, version ?? null, limit) as (Omit<ShadowRow, 'agree'> & {
      agree: number;
    })[];
    return rows.map((r) => ({ ...r, agree: r.agree === 1 }));
  }
}
