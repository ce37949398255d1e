import type Database from 'better-sqlite3';
import { type Connection, LazyStatements } from '../store/index.js';

/**
 * How a version did against ground truth (plant outcomes, `R/request/outcome`): the latest outcome of each
 * decision counts. `accuracy` is right verdicts over every scored decision: UNCERTAIN and ERROR verdicts are
 * not right (they sent the part to a person, or judged nothing) and are counted in `unsure` too. For NG
 * (the class a plant cares about): precision = NG verdicts that were NG; recall = NG parts called NG.
 */
export interface Score {
  outcomes: number;
  correct: number;
  accuracy: number | null;
  /** verdict NG, actual NG */
  tp: number;
  /** verdict NG, actual OK */
  fp: number;
  /** verdict OK, actual NG: an escape */
  fn: number;
  /** verdict OK, actual OK */
  tn: number;
  /** UNCERTAIN or ERROR verdicts with an outcome */
  unsure: number;
  ngPrecision: number | null;
  ngRecall: number | null;
}

export function emptyScore(): Score {
  return {
    outcomes: 0,
    correct: 0,
    accuracy: null,
    tp: 0,
    fp: 0,
    fn: 0,
    tn: 0,
    unsure: 0,
    ngPrecision: null,
    ngRecall: null,
  };
}

/** Adds `n` decisions with this verdict and this actual to a score. */
export function addToScore(s: Score, verdict: string | null, actual: string, n = 1): Score {
  const next = { ...s, outcomes: s.outcomes + n };
  if (verdict === 'NG' && actual === 'NG') next.tp += n;
  else if (verdict === 'NG') next.fp += n;
  else if (verdict === 'OK' && actual === 'NG') next.fn += n;
  else if (verdict === 'OK') next.tn += n;
  else next.unsure += n;
  next.correct = next.tp + next.tn;
  next.accuracy = next.outcomes ? next.correct / next.outcomes : null;
  next.ngPrecision = next.tp + next.fp ? next.tp / (next.tp + next.fp) : null;
  next.ngRecall = next.tp + next.fn ? next.tp / (next.tp + next.fn) : null;
  return next;
}

/** Per version of one model: as the active version (its decisions) and as a shadow (its shadow results). */
export interface VersionScores {
  active: Record<string, Score>;
  shadow: Record<string, Score>;
  /** the active versions' verdicts on the frames each shadow version also judged, by shadow version */
  activeOnShadowed: Record<string, Score>;
}

/** Outcomes looked at: the newest this many. Bounds the query however long the agent has run. */
const OUTCOMES_SCANNED = 50_000;

type Row = { version: string | null; verdict: string | null; actual: string; n: number };

/**
 * Scores every version of a model on plant outcomes, from the store: decisions carry the version that
 * judged them (`payload.model.version`), shadow results are linked to the decision of the same frame. Read
 * on the agent's one connection; `scores()` is a few grouped queries over the newest outcomes.
 */
export class GroundTruth {
  private readonly statements: LazyStatements<
    Record<'active' | 'shadow' | 'activeOnShadowed', Database.Statement>
  >;

  constructor(connection: Connection) {
    this.statements = new LazyStatements(connection, (db) => {
      const latest = `WITH latest AS (
          SELECT decision_id, actual FROM outcomes WHERE id IN (
            SELECT max(id) FROM outcomes WHERE id > (SELECT coalesce(max(id), 0) FROM outcomes) - ${OUTCOMES_SCANNED}
            GROUP BY decision_id))`;
      return {
        active: db.prepare(
          `${latest} SELECT json_extract(d.payload, '$.model.version') AS version, d.verdict AS verdict,
             l.actual AS actual, count(*) AS n
           FROM latest l JOIN decisions d ON d.id = l.decision_id
           WHERE json_extract(d.payload, '$.model.id') = ? GROUP BY 1, 2, 3`,
        ),
        shadow: db.prepare(
          `${latest} SELECT s.shadow_version AS version, coalesce(s.shadow_verdict, 'ERROR') AS verdict,
             l.actual AS actual, count(*) AS n
           FROM latest l JOIN shadow_results s ON s.decision_id = l.decision_id
           WHERE s.model = ? GROUP BY 1, 2, 3`,
        ),
        activeOnShadowed: db.prepare(
          `${latest} SELECT s.shadow_version AS version, s.active_verdict AS verdict, l.actual AS actual,
             count(*) AS n
           FROM latest l JOIN shadow_results s ON s.decision_id = l.decision_id
           WHERE s.model = ? GROUP BY 1, 2, 3`,
        ),
      };
    });
  }

  scores(model: string): VersionScores {
    const st = this.statements.get();
    const fold = (rows: Row[]) => {
      const out: Record<string, Score> = {};
      for (const r of rows) {
        const v = r.version ?? '?';
        out[v] = addToScore(out[v] ?? emptyScore(), r.verdict, r.actual, r.n);
      }
      return out;
    };
    return {
      active: fold(st.active.all(model) as Row[]),
      shadow: fold(st.shadow.all(model) as Row[]),
      activeOnShadowed: fold(st.activeOnShadowed.all(model) as Row[]),
    };
  }
}
