import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database, Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Frame } from '../capture/index.js';
import type { Decision } from '../decision/index.js';
import { describeError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Clock, Service } from '../service.js';
import type { Connection, DiskUsage } from '../store/index.js';
import { frameAsJpeg, storedFramePath } from './frames.js';
import { type HardnessPolicy, type HardReason, hardReasons } from './hardness.js';

export interface HardExampleOptions extends HardnessPolicy {
  enabled: boolean;
  /** share of store.maxDiskMB the kept frames may take at most */
  maxShare: number;
}

/** The store's disk budget, as far as this needs it (store/DiskBudget's public surface). */
export interface BudgetView {
  usage(): DiskUsage;
  imagesAllowed(): boolean;
}

export interface HardExampleRow {
  id: number;
  cameraId: string;
  decisionId: string | null;
  frameSha256: string;
  bytes: number;
  reasons: string[];
  score: number | null;
  modelVersion: string | null;
  at: number;
}

/** Frames waiting to be written at most: past this, a hard example is let go (counted), never queued. */
const MAX_PENDING = 16;
/** Decisions remembered by id for a later correction (outcome or override) of an unkept frame. */
const RECENT = 2_000;

/**
 * Keeps, per camera, the frames the model was least sure about, for a person to label and a trainer to
 * learn from (docs/dataset.md): an UNCERTAIN verdict, a small margin, high entropy, an anomaly score near
 * its threshold (hardness.ts); a frame the shadow version judged otherwise; a decision a plant outcome or
 * an override later corrected (its frame copied from the image store, if it was kept). Each row says why.
 *
 * Disk: files under `dir/<camera>/<sha256>.jpg`, at most `maxShare` of the store's budget, split evenly
 * between cameras (the oldest of a camera go first), and only in the room the decisions and their images
 * leave: the store's budget is read through its public surface (BudgetView) after each write, and kept
 * frames give way (oldest first) before anything of the store's would have to. While the store is out of
 * room for images (DISK_FULL), none is written. Listeners are cheap: hardness is a sort of a few scores;
 * the writing is queued off the event's turn, bounded.
 */
export class HardExampleStore implements Service {
  readonly name = 'hard-examples';
  private statements: Record<'upsert' | 'oldest' | 'remove' | 'cameraBytes' | 'link', Statement> | undefined;
  /** rows written without their decision (a shadow disagreement seen before the decision was stored) */
  private unlinked = 0;
  /** `camera/sha256` -> decision id, for the same recent decisions */
  private readonly bySha = new Map<string, string>();
  private bytes = 0;
  private files = 0;
  private pending = 0;
  private chain: Promise<void> = Promise.resolve();
  private dropped = 0;
  private readonly recent = new Map<
    string,
    { cameraId: string; sha: string; verdict: string; version: string | null }
  >();

  constructor(
    private readonly deps: {
      connection: Connection;
      dir: string;
      imagesDir: string;
      options: HardExampleOptions;
      budget: () => BudgetView;
      cameras: readonly string[];
      events: EventBus;
      clock: Clock;
      log: Logger;
    },
  ) {}

  private get db(): Database {
    return this.deps.connection.db;
  }

  async start(): Promise<void> {
    if (!this.deps.options.enabled) return;
    mkdirSync(this.deps.dir, { recursive: true });
    const db = this.db;
    this.statements = {
      upsert: db.prepare(
        `INSERT INTO hard_examples (camera_id, decision_id, frame_sha256, bytes, reasons, score, model_version, at)
         VALUES (@cameraId, @decisionId, @sha, @bytes, @reasons, @score, @version, @at)
         ON CONFLICT (camera_id, frame_sha256) DO UPDATE SET
           decision_id = coalesce(excluded.decision_id, decision_id),
           reasons = reasons || ',' || excluded.reasons,
           score = max(coalesce(score, 0), coalesce(excluded.score, 0))`,
      ),
      oldest: db.prepare(
        'SELECT id, camera_id AS cameraId, frame_sha256 AS sha, bytes FROM hard_examples WHERE (? IS NULL OR camera_id = ?) ORDER BY id LIMIT 1',
      ),
      remove: db.prepare('DELETE FROM hard_examples WHERE id = ?'),
      cameraBytes: db.prepare('SELECT coalesce(sum(bytes), 0) AS n FROM hard_examples WHERE camera_id = ?'),
      link: db.prepare(
        'UPDATE hard_examples SET decision_id = ? WHERE camera_id = ? AND frame_sha256 = ? AND decision_id IS NULL',
      ),
    };
    const totals = db
      .prepare('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM hard_examples')
      .get() as {
      n: number;
      b: number;
    };
    this.files = totals.n;
    this.bytes = totals.b;
    const { events } = this.deps;
    events.on(
      'DecisionStored',
      ({ decision, evidence }) => this.onDecision(decision, evidence?.frame),
      this.name,
    );
    events.on(
      'ShadowCompared',
      (e) => {
        if (e.agree) return;
        const decisionId = this.bySha.get(`${e.cameraId}/${e.frameSha256}`) ?? null;
        if (!decisionId) this.unlinked++;
        const jpeg = () => frameAsJpeg(e.frame);
        this.keep(
          e.cameraId,
          e.frameSha256,
          jpeg,
          ['shadow-disagreement'],
          decisionId,
          null,
          e.activeVersion,
        );
      },
      this.name,
    );
    events.on(
      'OutcomeRecorded',
      ({ decisionId, actual }) => this.onCorrection(decisionId, actual, 'corrected-outcome'),
      this.name,
    );
    events.on(
      'OverrideRecorded',
      ({ decisionId, verdict }) => this.onCorrection(decisionId, verdict, 'corrected-override'),
      this.name,
    );
  }

  async stop(): Promise<void> {
    this.deps.events.removeListeners(this.name);
    await this.chain;
  }

  snapshot() {
    return {
      enabled: this.deps.options.enabled,
      files: this.files,
      bytes: this.bytes,
      dropped: this.dropped,
    };
  }

  /** Where a kept frame's file is. */
  pathOf(cameraId: string, sha: string): string {
    return join(this.deps.dir, cameraId, `${sha}.jpg`);
  }

  /** Resolves once every queued write is done (tests, and stop). */
  settled(): Promise<void> {
    return this.chain;
  }

  private onDecision(decision: Decision, frame: Frame | undefined): void {
    const sha = decision.image?.sha256;
    if (!sha) return;
    this.remember(decision, sha);
    if (!frame) return;
    const { reasons, score } = hardReasons(decision, this.deps.options);
    if (reasons.length === 0) return;
    this.keep(
      decision.cameraId,
      sha,
      () => frameAsJpeg(frame),
      reasons,
      decision.id,
      score,
      decision.model?.version ?? null,
    );
  }

  private remember(decision: Decision, sha: string): void {
    const key = `${decision.cameraId}/${sha}`;
    this.bySha.delete(key);
    this.bySha.set(key, decision.id);
    if (this.bySha.size > RECENT) {
      const oldest = this.bySha.keys().next().value;
      if (oldest !== undefined) this.bySha.delete(oldest);
    }
    if (this.unlinked > 0 && this.statements) {
      // a disagreement kept before its decision was stored gets the decision now (queued behind its write)
      this.chain = this.chain.then(() => {
        if (this.statements?.link.run(decision.id, decision.cameraId, sha).changes) this.unlinked--;
      });
    }
    this.recent.set(decision.id, {
      cameraId: decision.cameraId,
      sha,
      verdict: decision.verdict,
      version: decision.model?.version ?? null,
    });
    if (this.recent.size > RECENT) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }

  /**
   * A person or the plant said otherwise than the verdict: the frame is kept, from the image store where
   * it was kept there (NG, UNCERTAIN, a sample of OK), else from a hard example already kept.
   */
  private onCorrection(decisionId: string, truth: string, reason: HardReason): void {
    const d = this.recent.get(decisionId) ?? this.lookup(decisionId);
    if (!d || d.verdict === truth) return;
    const stored = storedFramePath(this.deps.imagesDir, d.sha);
    const kept = this.pathOf(d.cameraId, d.sha);
    const source = existsSync(kept) ? kept : existsSync(stored) ? stored : null;
    if (!source) {
      this.deps.log.debug({ decisionId }, 'corrected decision: its frame was not kept, nothing to label');
      return;
    }
    this.keep(d.cameraId, d.sha, async () => readFileSync(source), [reason], decisionId, 1, d.version);
  }

  private lookup(decisionId: string) {
    const row = this.db
      .prepare('SELECT camera_id AS cameraId, verdict, payload FROM decisions WHERE id = ?')
      .get(decisionId) as { cameraId: string; verdict: string; payload: string } | undefined;
    if (!row) return undefined;
    const d = JSON.parse(row.payload) as Decision;
    return d.image?.sha256
      ? {
          cameraId: row.cameraId,
          sha: d.image.sha256,
          verdict: row.verdict,
          version: d.model?.version ?? null,
        }
      : undefined;
  }

  private keep(
    cameraId: string,
    sha: string,
    jpeg: () => Promise<Buffer>,
    reasons: HardReason[],
    decisionId: string | null,
    score: number | null,
    version: string | null,
  ): void {
    if (!this.statements || !this.deps.budget().imagesAllowed()) return;
    if (this.pending >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    this.pending++;
    this.chain = this.chain
      .then(async () => {
        const path = this.pathOf(cameraId, sha);
        let bytes = 0;
        if (!existsSync(path)) {
          const data = await jpeg();
          mkdirSync(join(this.deps.dir, cameraId), { recursive: true });
          await writeFile(path, data);
          bytes = data.length;
          this.bytes += bytes;
          this.files++;
        }
        this.statements?.upsert.run({
          cameraId,
          decisionId,
          sha,
          bytes,
          reasons: reasons.join(','),
          score,
          version,
          at: this.deps.clock.now(),
        });
        this.enforce(cameraId);
      })
      .catch((err: unknown) => {
        this.deps.log.warn({ err: describeError(err), cameraId }, 'hard example not kept');
      })
      .finally(() => {
        this.pending--;
      });
  }

  /** The camera's share of the cap first, then whatever the store's own data needs back. */
  private enforce(cameraId: string): void {
    const s = this.statements;
    if (!s) return;
    const budget = this.deps.budget();
    let usage = budget.usage();
    const cap = this.deps.options.maxShare * usage.budgetBytes;
    const perCamera = cap / Math.max(1, this.deps.cameras.length);
    while ((s.cameraBytes.get(cameraId) as { n: number }).n > perCamera && this.evict(cameraId)) {}
    while (this.bytes > 0 && usage.totalBytes + this.bytes > usage.budgetBytes && this.evict(null)) {
      usage = budget.usage();
    }
  }

  private evict(cameraId: string | null): boolean {
    const s = this.statements;
    const row = s?.oldest.get(cameraId, cameraId) as
      | { id: number; cameraId: string; sha: string; bytes: number }
      | undefined;
    if (!s || !row) return false;
    s.remove.run(row.id);
    rmSync(this.pathOf(row.cameraId, row.sha), { force: true });
    this.bytes = Math.max(0, this.bytes - row.bytes);
    this.files = Math.max(0, this.files - 1);
    return true;
  }
}

/** sha256 of bytes, hex (the decision's image.sha256 is this of the frame's bytes). */
export function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
