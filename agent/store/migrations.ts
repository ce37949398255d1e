import type { Database } from 'better-sqlite3';

/**
 * Schema versions, applied in order inside one transaction each; `PRAGMA user_version` records the last.
 * Never edit a shipped migration: add the next one.
 */
const MIGRATIONS: readonly string[] = [
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
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > SCHEMA_VERSION) {
    throw new Error(`database schema version ${from} is newer than this agent's ${SCHEMA_VERSION}`);
  }
  for (let version = from; version < SCHEMA_VERSION; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return { from, to: SCHEMA_VERSION };
}
