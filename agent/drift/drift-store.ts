import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Database } from 'better-sqlite3';
import { type Connection, LazyStatements } from '../store/index.js';
import type { Baseline } from './baseline.js';
import type { DriftReport } from './report.js';

/** Baselines kept per camera and model: the newest few (a rebuilt one replaces, the older stay for audit). */
const BASELINES_KEPT = 5;

/** What the history of a camera's windows shows (`/api/drift`): small, read without inflating reports. */
export interface ReportSummary {
  index: number;
  ts: number;
  from: number;
  to: number;
  count: number;
  status: DriftReport['status'];
  baselineId: string | null;
  breaches: string[];
  alerts: string[];
  means: Record<string, number | null>;
  accuracy: number | null;
}

export interface BaselineInfo {
  id: string;
  cameraId: string;
  model: Baseline['model'];
  builtAt: number;
  frames: number;
  source: Baseline['source'];
}

export function summaryOf(r: DriftReport): ReportSummary {
  return {
    index: r.window.index,
    ts: r.ts,
    from: r.window.from,
    to: r.window.to,
    count: r.window.count,
    status: r.status,
    baselineId: r.baseline?.id ?? null,
    breaches: [...new Set(r.statistics.filter((s) => s.breach).map((s) => `${s.name}:${s.test}`))],
    alerts: r.alerts,
    means: r.means ?? {},
    accuracy: r.outcomes?.accuracy ?? null,
  };
}

/**
 * Drift's tables in the agent's store (migration 6): baselines, window reports (deflated JSON: a report is
 * ~10 kB of numbers, ~2 kB stored) and each camera's state. Shares the store's one connection.
 */
export class DriftStore {
  private readonly statements: LazyStatements<ReturnType<typeof DriftStore.prepare>>;

  constructor(connection: Connection) {
    this.statements = new LazyStatements(connection, DriftStore.prepare);
  }

  private static prepare(db: Database) {
    return {
      insertBaseline: db.prepare(
        `INSERT INTO drift_baselines (id, camera_id, model_id, model_version, model_sha256, built_at, frames, source, body)
         VALUES (@id, @cameraId, @modelId, @modelVersion, @sha256, @builtAt, @frames, @source, @body)`,
      ),
      trimBaselines: db.prepare(
        `DELETE FROM drift_baselines WHERE camera_id = ? AND model_sha256 = ? AND id NOT IN
         (SELECT id FROM drift_baselines WHERE camera_id = ? AND model_sha256 = ? ORDER BY built_at DESC, id DESC LIMIT ?)`,
      ),
      latestBaseline: db.prepare(
        `SELECT body FROM drift_baselines WHERE camera_id = ? AND model_sha256 = ?
         ORDER BY built_at DESC, id DESC LIMIT 1`,
      ),
      latestBaselineId: db.prepare(
        `SELECT id FROM drift_baselines WHERE camera_id = ? AND model_sha256 = ?
         ORDER BY built_at DESC, id DESC LIMIT 1`,
      ),
      baselines: db.prepare(
        `SELECT id, camera_id AS cameraId, model_id AS modelId, model_version AS modelVersion,
                model_sha256 AS sha256, built_at AS builtAt, frames, source
         FROM drift_baselines WHERE camera_id = ? ORDER BY built_at DESC, id DESC LIMIT ?`,
      ),
      insertReport: db.prepare(
        `INSERT INTO drift_reports (camera_id, window_index, ts, status, summary, body)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      latestReport: db.prepare('SELECT body FROM drift_reports WHERE camera_id = ? ORDER BY id DESC LIMIT 1'),
      summaries: db.prepare('SELECT summary FROM drift_reports WHERE camera_id = ? ORDER BY id DESC LIMIT ?'),
      saveState: db.prepare(
        `INSERT INTO drift_state (camera_id, updated_at, body) VALUES (?, ?, ?)
         ON CONFLICT (camera_id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body`,
      ),
      loadState: db.prepare('SELECT body FROM drift_state WHERE camera_id = ?'),
    };
  }

  private get stmt() {
    return this.statements.get();
  }

  saveBaseline(b: Baseline): void {
    this.stmt.insertBaseline.run({
      id: b.id,
      cameraId: b.cameraId,
      modelId: b.model.id,
      modelVersion: b.model.version,
      sha256: b.model.sha256,
      builtAt: b.builtAt,
      frames: b.frames,
      source: b.source,
      body: JSON.stringify(b),
    });
    this.stmt.trimBaselines.run(b.cameraId, b.model.sha256, b.cameraId, b.model.sha256, BASELINES_KEPT);
  }

  /** The newest baseline of `cameraId` for the model with this sha256: never one of another model. */
  latestBaseline(cameraId: string, sha256: string): Baseline | undefined {
    const row = this.stmt.latestBaseline.get(cameraId, sha256) as { body: string } | undefined;
    return row ? (JSON.parse(row.body) as Baseline) : undefined;
  }

  /** Its id only: a cheap check whether a newer baseline was built (by `edge-agent baseline build`). */
  latestBaselineId(cameraId: string, sha256: string): string | undefined {
    return (this.stmt.latestBaselineId.get(cameraId, sha256) as { id: string } | undefined)?.id;
  }

  baselines(cameraId: string, limit = 20): BaselineInfo[] {
    const rows = this.stmt.baselines.all(cameraId, limit) as {
      id: string;
      cameraId: string;
      modelId: string;
      modelVersion: string;
      sha256: string;
      builtAt: number;
      frames: number;
      source: Baseline['source'];
    }[];
    return rows.map((r) => ({
      id: r.id,
      cameraId: r.cameraId,
      model: { id: r.modelId, version: r.modelVersion, sha256: r.sha256 },
      builtAt: r.builtAt,
      frames: r.frames,
      source: r.source,
    }));
  }

  saveReport(report: DriftReport): void {
    const body = deflateRawSync(Buffer.from(JSON.stringify(report)));
    this.stmt.insertReport.run(
      report.cameraId,
      report.window.index,
      report.ts,
      report.status,
      JSON.stringify(summaryOf(report)),
      body,
    );
  }

  latestReport(cameraId: string): DriftReport | undefined {
    const row = this.stmt.latestReport.get(cameraId) as { body: Buffer } | undefined;
    return row ? (JSON.parse(inflateRawSync(row.body).toString('utf8')) as DriftReport) : undefined;
  }

  /** The newest `limit` windows' summaries, newest first. */
  history(cameraId: string, limit: number): ReportSummary[] {
    const rows = this.stmt.summaries.all(cameraId, limit) as { summary: string }[];
    return rows.map((r) => JSON.parse(r.summary) as ReportSummary);
  }

  saveState(cameraId: string, at: number, state: unknown): void {
    this.stmt.saveState.run(cameraId, at, JSON.stringify(state));
  }

  loadState(cameraId: string): unknown {
    const row = this.stmt.loadState.get(cameraId) as { body: string } | undefined;
    return row ? JSON.parse(row.body) : undefined;
  }
}
