import { rmSync } from 'node:fs';
import type { Database } from 'better-sqlite3';

/**
 * Schema versions, applied in order inside one transaction each; `PRAGMA user_version` records the last.
 * Never edit a shipped migration: add the next one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: decisions (append-only log; AUTOINCREMENT so a seq is never reused, even after retention deletes)
  `
  CREATE TABLE decisions (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    camera_id    TEXT    NOT NULL,
    part_id      TEXT,
    verdict      TEXT    NOT NULL,
    triggered_at INTEGER NOT NULL,
    decided_at   INTEGER NOT NULL,
    payload      TEXT    NOT NULL
  );
  CREATE INDEX decisions_camera_decided ON decisions (camera_id, decided_at);
  CREATE INDEX decisions_decided ON decisions (decided_at);
  CREATE INDEX decisions_part ON decisions (part_id) WHERE part_id IS NOT NULL;

  -- one row per decision to deliver; sent_at is set on PUBACK
  CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY REFERENCES decisions (seq),
    enqueued_at INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at     INTEGER
  );
  CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
  `,
  // 2: delivery per channel (json, sparkplug), the append-only guard, ground truth, overrides, the request
  // log, and the reference of the frame a decision judged (so a folder camera never re-inspects a file)
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

  CREATE TABLE outbox_v2 (
    seq         INTEGER NOT NULL REFERENCES decisions (seq),
    channel     TEXT    NOT NULL,
    enqueued_at INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at     INTEGER,
    PRIMARY KEY (seq, channel)
  ) WITHOUT ROWID;
  INSERT INTO outbox_v2 (seq, channel, enqueued_at, attempts, sent_at)
    SELECT seq, 'json', enqueued_at, attempts, sent_at FROM outbox;
  DROP TABLE outbox;
  ALTER TABLE outbox_v2 RENAME TO outbox;
  CREATE INDEX outbox_unsent ON outbox (channel, seq) WHERE sent_at IS NULL;

  ALTER TABLE decisions ADD COLUMN source_ref TEXT;
  CREATE INDEX decisions_source_ref ON decisions (camera_id, source_ref) WHERE source_ref IS NOT NULL;
  CREATE INDEX decisions_verdict ON decisions (verdict, decided_at);

  CREATE TABLE outcomes (
    id          INTEGER PRIMARY KEY,
    decision_id TEXT    NOT NULL REFERENCES decisions (id),
    actual      TEXT    NOT NULL CHECK (actual IN ('OK', 'NG')),
    source      TEXT,
    received_at INTEGER NOT NULL
  );
  CREATE INDEX outcomes_decision ON outcomes (decision_id);

  CREATE TABLE overrides (
    id          INTEGER PRIMARY KEY,
    decision_id TEXT    NOT NULL REFERENCES decisions (id),
    verdict     TEXT    NOT NULL CHECK (verdict IN ('OK', 'NG', 'UNCERTAIN', 'ERROR')),
    user        TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    received_at INTEGER NOT NULL
  );
  CREATE INDEX overrides_decision ON overrides (decision_id);

  -- every request received, valid or not, over MQTT or HTTP
  CREATE TABLE requests (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    via         TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    body        TEXT,
    status      TEXT    NOT NULL,
    error       TEXT
  );

  -- decisions are append-only: no UPDATE ever; DELETE only by the retention sweep (which raises the
  -- flag inside its own transaction), and never of a decision some channel has not delivered
  CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
  BEGIN SELECT RAISE(ABORT, 'decisions are append-only: UPDATE refused'); END;
  CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
  WHEN (SELECT value FROM meta WHERE key = 'retention_sweep') IS NOT '1'
    OR EXISTS (SELECT 1 FROM outbox WHERE seq = OLD.seq AND sent_at IS NULL)
  BEGIN SELECT RAISE(ABORT, 'decisions are append-only: only retention may delete, and only delivered ones'); END;
  CREATE TRIGGER outbox_keep_undelivered BEFORE DELETE ON outbox WHEN OLD.sent_at IS NULL
  BEGIN SELECT RAISE(ABORT, 'an undelivered decision cannot leave the outbox'); END;
  `,
  // 3: stored images (frames, annotated copies, anomaly maps), files content-addressed by sha256 under
  // store.imagesDir; one file may serve several rows (identical frames), so it goes with its last row
  `
  CREATE TABLE images (
    seq        INTEGER NOT NULL REFERENCES decisions (seq),
    kind       TEXT    NOT NULL CHECK (kind IN ('frame', 'annotated', 'anomaly-map')),
    sha256     TEXT    NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (seq, kind)
  ) WITHOUT ROWID;
  CREATE INDEX images_sha256 ON images (sha256);
  `,
  // 4: a candidate version's results on the same frames as the active one, never published
  `
  CREATE TABLE shadow_results (
    id             INTEGER PRIMARY KEY,
    model          TEXT    NOT NULL,
    camera         TEXT    NOT NULL,
    active_version TEXT    NOT NULL,
    shadow_version TEXT    NOT NULL,
    at             INTEGER NOT NULL,
    active_verdict TEXT,
    shadow_verdict TEXT,
    active_top     TEXT,
    shadow_top     TEXT,
    agree          INTEGER NOT NULL,
    active_ms      REAL,
    shadow_ms      REAL,
    error          TEXT
  );
  CREATE INDEX shadow_results_model ON shadow_results (model, shadow_version);
  `,
  // 5: the audit query (newest first by decided_at, then seq) walks one index for every filter
  // combination, with no sort and no scan on a million rows (test/unit/store/audit-query.test.ts checks the
  // plans); the part index gains decided_at so a part id reused on many decisions still pages in order;
  // the request log gets a time index for retention and reading back (IF EXISTS: a database made by hand
  // for a test or a repair may lack the old part index)
  `
  CREATE INDEX decisions_camera_verdict_decided ON decisions (camera_id, verdict, decided_at);
  CREATE INDEX decisions_part_decided ON decisions (part_id, decided_at) WHERE part_id IS NOT NULL;
  DROP INDEX IF EXISTS decisions_part;
  CREATE INDEX requests_received ON requests (received_at);
  `,
  // 6: model rollout (docs/model-updates.md): a shadow result names the frame it judged (its sha256, as the
  // decision's image.sha256) and the decision it was compared with, so plant outcomes score the shadow
  // version too; hard examples kept for labelling (docs/dataset.md), each with why it was kept
  `
  ALTER TABLE shadow_results ADD COLUMN frame_sha256 TEXT;
  ALTER TABLE shadow_results ADD COLUMN decision_id TEXT;
  CREATE INDEX shadow_results_frame ON shadow_results (camera, frame_sha256) WHERE frame_sha256 IS NOT NULL;
  CREATE INDEX shadow_results_decision ON shadow_results (decision_id) WHERE decision_id IS NOT NULL;

  CREATE TABLE hard_examples (
    id            INTEGER PRIMARY KEY,
    camera_id     TEXT    NOT NULL,
    decision_id   TEXT,
    frame_sha256  TEXT    NOT NULL,
    bytes         INTEGER NOT NULL,
    reasons       TEXT    NOT NULL,
    score         REAL,
    model_version TEXT,
    at            INTEGER NOT NULL,
    UNIQUE (camera_id, frame_sha256)
  );
  CREATE INDEX hard_examples_camera_at ON hard_examples (camera_id, at);
  CREATE INDEX hard_examples_decision ON hard_examples (decision_id) WHERE decision_id IS NOT NULL;
  `,
  // 7: drift monitoring (docs/drift.md): baselines per camera and model (by sha256), window reports (the
  // whole report deflated, a small summary for history; under retention and the disk budget) and each
  // camera's chart and alert state, so slow drift is followed across restarts
  `
  CREATE TABLE drift_baselines (
    id            TEXT    PRIMARY KEY,
    camera_id     TEXT    NOT NULL,
    model_id      TEXT    NOT NULL,
    model_version TEXT    NOT NULL,
    model_sha256  TEXT    NOT NULL,
    built_at      INTEGER NOT NULL,
    frames        INTEGER NOT NULL,
    source        TEXT    NOT NULL,
    body          TEXT    NOT NULL
  );
  CREATE INDEX drift_baselines_camera_model ON drift_baselines (camera_id, model_sha256, built_at);

  CREATE TABLE drift_reports (
    id           INTEGER PRIMARY KEY,
    camera_id    TEXT    NOT NULL,
    window_index INTEGER NOT NULL,
    ts           INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    summary      TEXT    NOT NULL,
    body         BLOB    NOT NULL
  );
  CREATE INDEX drift_reports_camera ON drift_reports (camera_id, id);
  CREATE INDEX drift_reports_ts ON drift_reports (ts);

  CREATE TABLE drift_state (
    camera_id  TEXT    PRIMARY KEY,
    updated_at INTEGER NOT NULL,
    body       TEXT    NOT NULL
  );
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema to SCHEMA_VERSION. An existing database is first copied to `<path>.v<from>.bak`
 * (VACUUM INTO: a consistent snapshot) so a failed or regretted upgrade can be undone by hand.
 */
export function migrate(db: Database, path: string): { from: number; to: number; backup?: string } {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > SCHEMA_VERSION) {
    throw new Error(`database schema version ${from} is newer than this agent's ${SCHEMA_VERSION}`);
  }
  let backup: string | undefined;
  if (from > 0 && from < SCHEMA_VERSION && path !== ':memory:') {
    backup = `${path}.v${from}.bak`;
    rmSync(backup, { force: true });
    db.prepare('VACUUM INTO ?').run(backup);
  }
  for (let version = from; version < SCHEMA_VERSION; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return { from, to: SCHEMA_VERSION, ...(backup ? { backup } : {}) };
}
