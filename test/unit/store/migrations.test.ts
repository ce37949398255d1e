import { existsSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import t from 'tap';
import { DecisionStore, SCHEMA_VERSION } from '../../../agent/store/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { draft, quietLog, tempStore } from '../../helpers/fixtures.js';

/** A database as schema version 1 wrote it, with one decision queued and one delivered. */
function versionOneDatabase(path: string): void {
  const db = new BetterSqlite3(path);
  db.exec(`
    CREATE TABLE decisions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, camera_id TEXT NOT NULL,
      part_id TEXT, verdict TEXT NOT NULL, triggered_at INTEGER NOT NULL, decided_at INTEGER NOT NULL, payload TEXT NOT NULL);
    CREATE TABLE outbox (seq INTEGER PRIMARY KEY REFERENCES decisions (seq), enqueued_at INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, sent_at INTEGER);
    INSERT INTO decisions VALUES (1, 'a', 'cam-1', NULL, 'OK', 1, 1, '{"seq":1,"id":"a"}');
    INSERT INTO decisions VALUES (2, 'b', 'cam-1', NULL, 'NG', 2, 2, '{"seq":2,"id":"b"}');
    INSERT INTO outbox VALUES (1, 1, 1, 5);
    INSERT INTO outbox VALUES (2, 2, 0, NULL);
    PRAGMA user_version = 1;
  `);
  db.close();
}

t.test(
  'a version 1 database is backed up, then migrated without losing a decision or its delivery state',
  async (t) => {
    const path = join(tempDir(), 'agent.db');
    versionOneDatabase(path);
    const store = DecisionStore.open({ path, agentId: 'cell-1', log: quietLog });
    t.teardown(() => store.close());
    t.ok(existsSync(`${path}.v1.bak`), 'backup copy written before migrating');
    const backup = new BetterSqlite3(`${path}.v1.bak`, { readonly: true });
    t.equal(backup.pragma('user_version', { simple: true }), 1, 'the backup is the old schema');
    backup.close();
    t.equal(store.lastSeq(), 2);
    t.same(
      store.unsent('json', 0, 100, 10).map((e) => e.seq),
      [2],
      'the delivered one stays delivered',
    );
    t.equal(store.record(draft()).seq, 3, 'seq continues');
    store.close(); // the store holds its file exclusively while open (docs/storage.md)
    const db = new BetterSqlite3(path, { readonly: true });
    t.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    db.close();
  },
);

t.test('a database from a newer agent is refused, not damaged', async (t) => {
  const path = join(tempDir(), 'agent.db');
  const db = new BetterSqlite3(path);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  t.throws(() => DecisionStore.open({ path, agentId: 'x', log: quietLog }), {
    message: /newer than this agent/,
  });
});

t.test('decisions are append-only: UPDATE and DELETE are refused by the database itself', async (t) => {
  const { store, path } = tempStore();
  store.record(draft());
  store.markSent('json', [1]);
  store.close();
  const db = new BetterSqlite3(path);
  t.teardown(() => db.close());
  t.throws(() => db.prepare("UPDATE decisions SET verdict = 'OK' WHERE seq = 1").run(), {
    message: /append-only/,
  });
  t.throws(() => db.prepare('DELETE FROM decisions WHERE seq = 1').run(), { message: /append-only/ });
  db.exec("INSERT INTO meta (key, value) VALUES ('retention_sweep', '1')");
  db.prepare('DELETE FROM outbox WHERE seq = 1').run();
  t.equal(
    db.prepare('DELETE FROM decisions WHERE seq = 1').run().changes,
    1,
    'retention may delete a delivered one',
  );
});

t.test('even the retention sweep cannot delete an undelivered decision', async (t) => {
  const { store, path } = tempStore();
  store.record(draft());
  store.close();
  const db = new BetterSqlite3(path);
  t.teardown(() => db.close());
  db.exec("INSERT INTO meta (key, value) VALUES ('retention_sweep', '1')");
  t.throws(() => db.prepare('DELETE FROM decisions WHERE seq = 1').run(), { message: /append-only/ });
  t.throws(() => db.prepare('DELETE FROM outbox WHERE seq = 1').run(), {
    message: /cannot leave the outbox/,
  });
});
