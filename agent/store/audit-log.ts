import type { Database } from 'better-sqlite3';
import type { EventBus } from '../events.js';
import { type Connection, LazyStatements } from './connection.js';

declare module '../events.js' {
  interface AgentEvents {
    /**
     * The plant's finding for a decision was recorded (a new row, not a redelivered duplicate), with what
     * the agent had said: drift monitoring turns these into realised accuracy.
     */
    OutcomeRecorded: {
      decisionId: string;
      cameraId: string;
      verdict: 'OK' | 'NG' | 'UNCERTAIN' | 'ERROR';
      actual: 'OK' | 'NG';
      receivedAt: number;
    };
  }
}

/**
 * Where a request came from. `internal` is a call from inside the process (tests, tools); `plc`, `opcua` and
 * `sparkplug` are plant systems selecting a recipe or commanding a camera (docs/recipes.md).
 */
export type RequestVia = 'mqtt' | 'http' | 'internal' | 'plc' | 'opcua' | 'sparkplug';

export interface RequestLogEntry {
  receivedAt: number;
  via: RequestVia;
  name: string;
  /** The body as received (raw text, or JSON of a parsed body); truncated to MAX_LOGGED_BODY. */
  body: string | null;
  status: 'ok' | 'error';
  error?: string | undefined;
}

export interface LoggedRequest extends RequestLogEntry {
  id: number;
}

export interface Outcome {
  id: number;
  decisionId: string;
  actual: 'OK' | 'NG';
  source: string | null;
  receivedAt: number;
}

export interface Override {
  id: number;
  decisionId: string;
  verdict: 'OK' | 'NG' | 'UNCERTAIN';
  user: string;
  reason: string;
  receivedAt: number;
}

type OutcomeJudged = 'OK' | 'NG' | 'UNCERTAIN' | 'ERROR';

/** What an add call did: a new row, or the identical row already there (a redelivered request). */
export type Added<T> = T & { duplicate: boolean };

/**
 * A body is logged so an auditor can see what was asked, not to archive uploads: 4 KiB holds any valid
 * request many times over, and bounds what a flood of garbage can cost in disk.
 */
export const MAX_LOGGED_BODY = 4096;
/** Error texts are ours, but may quote a request's own field names back. */
const MAX_LOGGED_ERROR = 1024;

/**
 * The audit side of the store: ground truth (`outcomes`), people's overrides (`overrides`) and the log of
 * every request received (`requests`). It shares the DecisionStore's one connection, so it is the same
 * single writer. Outcomes and overrides are append-only in practice: a correction is a new row, and the
 * latest one is what counts.
 */
export class AuditLog {
  private readonly statements: LazyStatements<ReturnType<typeof AuditLog.prepare>>;

  /** Only assigns: statements are prepared on first use, once the store is open. */
  constructor(
    private readonly connection: Connection,
    private readonly now: () => number = Date.now,
    /** `OutcomeRecorded` is told here, after the outcome's transaction commits. */
    private readonly events?: EventBus,
  ) {
    this.statements = new LazyStatements(connection, AuditLog.prepare);
  }

  private get db(): Database {
    return this.connection.db;
  }

  private get stmt() {
    return this.statements.get();
  }

  private static prepare(db: Database) {
    return {
      logRequest: db.prepare(
        `INSERT INTO requests (received_at, via, name, body, status, error)
         VALUES (@receivedAt, @via, @name, @body, @status, @error)`,
      ),
      decisionExists: db.prepare('SELECT 1 FROM decisions WHERE id = ?'),
      decisionVerdict: db.prepare('SELECT camera_id AS cameraId, verdict FROM decisions WHERE id = ?'),
      insertOutcome: db.prepare(
        'INSERT INTO outcomes (decision_id, actual, source, received_at) VALUES (?, ?, ?, ?)',
      ),
      // the latest row only: NG, OK (a correction), NG again is three rows, and the last one counts
      latestOutcome: db.prepare(
        `SELECT ${OUTCOME_COLUMNS} FROM outcomes WHERE decision_id = ? ORDER BY id DESC LIMIT 1`,
      ),
      outcomesOf: db.prepare(`SELECT ${OUTCOME_COLUMNS} FROM outcomes WHERE decision_id = ? ORDER BY id`),
      insertOverride: db.prepare(
        'INSERT INTO overrides (decision_id, verdict, user, reason, received_at) VALUES (?, ?, ?, ?, ?)',
      ),
      latestOverride: db.prepare(
        `SELECT ${OVERRIDE_COLUMNS} FROM overrides WHERE decision_id = ? ORDER BY id DESC LIMIT 1`,
      ),
      overridesOf: db.prepare(`SELECT ${OVERRIDE_COLUMNS} FROM overrides WHERE decision_id = ? ORDER BY id`),
      requests: db.prepare(
        `SELECT id, received_at AS receivedAt, via, name, body, status, error FROM requests
         WHERE id < ? ORDER BY id DESC LIMIT ?`,
      ),
    };
  }

  /** Records one request received, valid or not. Never throws for a body's sake: it is truncated. */
  logRequest(entry: RequestLogEntry): void {
    this.stmt.logRequest.run({
      receivedAt: entry.receivedAt,
      via: entry.via,
      name: truncate(entry.name, 200),
      body: entry.body === null ? null : truncate(entry.body, MAX_LOGGED_BODY),
      status: entry.status,
      error: entry.error === undefined ? null : truncate(entry.error, MAX_LOGGED_ERROR),
    });
  }

  hasDecision(decisionId: string): boolean {
    return this.stmt.decisionExists.get(decisionId) !== undefined;
  }

  /**
   * Ground truth for a decision. An outcome identical to the decision's LATEST one (same actual, source) is
   * returned instead of written again: MQTT QoS 1 may deliver a request twice, and a plant retrying a
   * request must not count one re-inspection as two. Identical to an older row is not a duplicate: after
   * NG then OK, a new NG is a correction and must become the latest. Undefined for an unknown decision.
   */
  addOutcome(decisionId: string, actual: Outcome['actual'], source?: string): Added<Outcome> | undefined {
    let judged: { cameraId: string; verdict: OutcomeJudged } | undefined;
    const added = this.db.transaction((): Added<Outcome> | undefined => {
      judged = this.stmt.decisionVerdict.get(decisionId) as typeof judged;
      if (!judged) return undefined;
      const latest = this.stmt.latestOutcome.get(decisionId) as Outcome | undefined;
      if (latest && latest.actual === actual && latest.source === (source ?? null)) {
        return { ...latest, duplicate: true };
      }
      const receivedAt = this.now();
      const { lastInsertRowid } = this.stmt.insertOutcome.run(decisionId, actual, source ?? null, receivedAt);
      return {
        id: Number(lastInsertRowid),
        decisionId,
        actual,
        source: source ?? null,
        receivedAt,
        duplicate: false,
      };
    })();
    if (added && !added.duplicate && judged) {
      const { cameraId, verdict } = judged;
      this.events?.emit('OutcomeRecorded', {
        decisionId,
        cameraId,
        verdict,
        actual,
        receivedAt: added.receivedAt,
      });
    }
    return added;
  }

  /**
   * A person's verdict for a decision; one identical to the decision's latest override (same verdict, user,
   * reason) is not repeated. Identical to an older one is a new row, as for outcomes.
   */
  addOverride(
    decisionId: string,
    verdict: Override['verdict'],
    user: string,
    reason: string,
  ): Added<Override> | undefined {
    return this.db.transaction((): Added<Override> | undefined => {
      if (!this.hasDecision(decisionId)) return undefined;
      const latest = this.stmt.latestOverride.get(decisionId) as Override | undefined;
      if (latest && latest.verdict === verdict && latest.user === user && latest.reason === reason) {
        return { ...latest, duplicate: true };
      }
      const receivedAt = this.now();
      const { lastInsertRowid } = this.stmt.insertOverride.run(decisionId, verdict, user, reason, receivedAt);
      return { id: Number(lastInsertRowid), decisionId, verdict, user, reason, receivedAt, duplicate: false };
    })();
  }

  outcomesOf(decisionId: string): Outcome[] {
    return this.stmt.outcomesOf.all(decisionId) as Outcome[];
  }

  overridesOf(decisionId: string): Override[] {
    return this.stmt.overridesOf.all(decisionId) as Override[];
  }

  /** The request log, newest first; `before` is the id of the last entry of the previous page. */
  requests(limit: number, before = Number.MAX_SAFE_INTEGER): LoggedRequest[] {
    const rows = this.stmt.requests.all(before, limit) as (Omit<LoggedRequest, 'error'> & {
      error: string | null;
    })[];
    return rows.map(({ error, ...r }) => ({ ...r, ...(error !== null ? { error } : {}) }));
  }
}

const OUTCOME_COLUMNS = 'id, decision_id AS decisionId, actual, source, received_at AS receivedAt';
const OVERRIDE_COLUMNS = 'id, decision_id AS decisionId, verdict, user, reason, received_at AS receivedAt';

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}... [truncated, ${text.length} characters in all]`;
}
