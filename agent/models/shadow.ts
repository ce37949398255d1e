import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Decision, Evidence } from '../decision/index.js';
import type { EventBus } from '../events.js';
import type { Service } from '../service.js';
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
  /** sha256 of the frame both versions judged (the decision's `image.sha256`) */
  frameSha256?: string | null | undefined;
  /** the decision the active result became, once known */
  decisionId?: string | null | undefined;
}

/** What a candidate did on the line so far: the figures a plant engineer reads before promoting it. */
export interface ShadowReport {
  version: string;
  since: number;
  /** frames both versions judged (the shadow's errors are counted apart) */
  frames: number;
  agreed: number;
  /** agreed / (frames + errors): a shadow error is a disagreement; null before the first frame */
  agreement: number | null;
  errors: number;
  /** frames not shadowed because the candidate was still busy with an earlier one */
  skipped: number;
  /** frames not shadowed because the shadow had used its CPU budget (models[].shadowBudget) */
  throttled: number;
  activeMsMean: number | null;
  shadowMsMean: number | null;
}

/** Rows kept: a shadow left running for months must not fill the disk (oldest go first). */
const MAX_ROWS = 100_000;
const TRIM_EVERY = 1_000;
/** Recent decisions remembered by camera and frame, to link a shadow row written after its decision. */
const RECENT_DECISIONS = 512;

export function emptyReport(version: string, since: number): ShadowReport {
  return {
    version,
    since,
    frames: 0,
    agreed: 0,
    agreement: null,
    errors: 0,
    skipped: 0,
    throttled: 0,
    activeMsMean: null,
    shadowMsMean: null,
  };
}

export function addToReport(r: ShadowReport, row: ShadowRow): ShadowReport {
  if (row.error) {
    const errors = r.errors + 1;
    return { ...r, errors, agreement: r.agreed / (r.frames + errors) };
  }
  const frames = r.frames + 1;
  const agreed = r.agreed + (row.agree ? 1 : 0);
  const mean = (old: number | null, x: number | null) =>
    x === null ? old : old === null ? x : old + (x - old) / frames;
  return {
    ...r,
    frames,
    agreed,
    agreement: agreed / (frames + r.errors),
    activeMsMean: mean(r.activeMsMean, row.activeMs),
    shadowMsMean: mean(r.shadowMsMean, row.shadowMs),
  };
}

/**
 * `shadow_results` rows, on the agent's one connection (`DecisionStore.db`, whose migrations create the
 * table): one writer, and no second connection whose busy wait would block the event loop. Shadow rows
 * never enter the outbox, so they are never published. The connection's owner closes it.
 */
export class ShadowStore implements Service {
  readonly name = 'shadow-store';
  private readonly statements: LazyStatements<{
    insert: Database.Statement;
    trim: Database.Statement;
    link: Database.Statement;
  }>;
  private inserted = 0;
  /** `camera/frame sha256` -> decision id, newest last */
  private readonly recent = new Map<string, string>();

  /** Only assigns: statements are prepared on first use, once the store is open. */
  constructor(
    private readonly connection: Connection,
    private readonly log: Logger,
    private readonly events?: EventBus,
  ) {
    this.statements = new LazyStatements(connection, (db) => ({
      insert: db.prepare(
        `INSERT INTO shadow_results (model, camera, active_version, shadow_version, at, active_verdict,
          shadow_verdict, active_top, shadow_top, agree, active_ms, shadow_ms, error, frame_sha256, decision_id)
         VALUES (@model, @camera, @activeVersion, @shadowVersion, @at, @activeVerdict, @shadowVerdict,
          @activeTop, @shadowTop, @agree, @activeMs, @shadowMs, @error, @frameSha256, @decisionId)`,
      ),
      trim: db.prepare('DELETE FROM shadow_results WHERE id <= (SELECT max(id) FROM shadow_results) - ?'),
      // the newest unlinked rows of that frame only: an identical frame judged an hour ago is another part
      link: db.prepare(
        `UPDATE shadow_results SET decision_id = ? WHERE camera = ? AND frame_sha256 = ?
          AND decision_id IS NULL AND at >= ?`,
      ),
    }));
  }

  /** Listens for stored decisions, to link each to the shadow result of the same frame. */
  async start(): Promise<void> {
    this.events?.on(
      'DecisionStored',
      ({ decision, evidence }) => this.noteDecision(decision, evidence),
      this.name,
    );
  }

  async stop(): Promise<void> {
    this.events?.removeListeners(this.name);
  }

  /**
   * A decision is stored: a shadow result already written for its frame gets its id; one written later
   * finds it here. Cheap: one map write, and an indexed UPDATE only for a model with a shadow running.
   */
  noteDecision(decision: Decision, evidence?: Evidence): void {
    // a raw (stream) frame is stored as a JPEG, whose hash names the decision's image: the shadow hashed
    // the raw bytes, so hash them here too, only while a shadow has been writing
    const raw = evidence?.frame.kind === 'raw' && this.inserted > 0;
    const sha = raw ? createHash('sha256').update(evidence.frame.data).digest('hex') : decision.image?.sha256;
    if (!sha) return;
    const key = `${decision.cameraId}/${sha}`;
    this.recent.delete(key);
    this.recent.set(key, decision.id);
    if (this.recent.size > RECENT_DECISIONS) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
    if (this.inserted === 0) return; // no shadow has written anything since start
    try {
      this.statements.get().link.run(decision.id, decision.cameraId, sha, decision.decidedAt - 60_000);
    } catch (err) {
      this.log.warn({ err }, 'shadow result not linked to its decision');
    }
  }

  private get db(): Database.Database {
    return this.connection.db;
  }

  record(row: ShadowRow): void {
    try {
      const decisionId =
        row.decisionId ??
        (row.frameSha256 ? this.recent.get(`${row.camera}/${row.frameSha256}`) : undefined) ??
        null;
      this.statements.get().insert.run({
        ...row,
        agree: row.agree ? 1 : 0,
        frameSha256: row.frameSha256 ?? null,
        decisionId,
      });
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
          shadow_top AS shadowTop, agree, active_ms AS activeMs, shadow_ms AS shadowMs, error,
          frame_sha256 AS frameSha256, decision_id AS decisionId
         FROM shadow_results WHERE model = ? AND (? IS NULL OR shadow_version = ?) ORDER BY id DESC LIMIT ?`,
      )
      .all(model, version ?? null, version ?? null, limit) as (Omit<ShadowRow, 'agree'> & {
      agree: number;
    })[];
    return rows.map((r) => ({ ...r, agree: r.agree === 1 }));
  }
}
