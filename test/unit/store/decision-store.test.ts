import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import t from 'tap';
import { DecisionStore, SCHEMA_VERSION } from '../../../agent/store/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { draft, quietLog, tempStore } from '../../helpers/fixtures.js';

t.test('record gives seq from 1 and a UUIDv7 id, stores the payload and queues it', async (t) => {
  const { store } = tempStore();
  t.teardown(() => store.close());
  const a = store.record(draft({ partId: 'A-1' }));
  const b = store.record(draft({ verdict: 'NG', reason: 'scratch' }));
  t.equal(a.seq, 1);
  t.equal(b.seq, 2);
  t.match(a.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'UUIDv7');
  t.ok(a.id < b.id, 'v7 ids sort by time');
  t.equal(a.agentId, 'cell-1');
  t.equal(a.historical, false);
  t.same(store.getById(a.id), a, 'read back exactly as stored');
  t.same(
    store.unsent('json', 0, Number.MAX_SAFE_INTEGER, 10).map((e) => e.seq),
    [1, 2],
    'both queued for delivery',
  );
  t.equal(store.stats().backlog, 2);
});

t.test('markSent takes decisions off the outbox; unsent honours its bounds', async (t) => {
  const { store } = tempStore();
  t.teardown(() => store.close());
  for (let i = 0; i < 5; i++) store.record(draft());
  store.markSent('json', [2, 4]);
  t.same(
    store.unsent('json', 0, 100, 10).map((e) => e.seq),
    [1, 3, 5],
  );
  t.same(
    store.unsent('json', 1, 5, 10).map((e) => e.seq),
    [3],
    'afterSeq < seq < beforeSeq',
  );
  t.same(
    store.unsent('json', 0, 100, 2).map((e) => e.seq),
    [1, 3],
    'limit',
  );
  t.equal(store.stats().backlog, 3);
});

t.test('seq survives a restart and is never reused, even after rows are deleted', async (t) => {
  const { store, path } = tempStore();
  for (let i = 0; i < 3; i++) store.record(draft());
  store.close();
  // remove the newest row as a retention sweep would: delivered, with the sweep's flag raised
  const db = new BetterSqlite3(path);
  db.exec(`UPDATE outbox SET sent_at = 1 WHERE seq = 3;
    INSERT INTO meta (key, value) VALUES ('retention_sweep', '1');
    DELETE FROM outbox WHERE seq = 3; DELETE FROM decisions WHERE seq = 3;
    DELETE FROM meta WHERE key = 'retention_sweep';`);
  db.close();
  const reopened = DecisionStore.open({ path, agentId: 'cell-1', log: quietLog });
  t.teardown(() => reopened.close());
  t.equal(reopened.lastSeq(), 3);
  t.equal(reopened.record(draft()).seq, 4, 'seq continues after the highest ever used');
  t.same(
    reopened.unsent('json', 0, 100, 10).map((e) => e.seq),
    [1, 2, 4],
  );
});

t.test('the store runs in WAL mode with synchronous FULL', async (t) => {
  const { store, path } = tempStore();
  store.record(draft());
  store.close();
  const db = new BetterSqlite3(path);
  t.teardown(() => db.close());
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION, 'schema version recorded');
});

t.test('list filters by camera and verdict, newest first', async (t) => {
  const { store } = tempStore();
  t.teardown(() => store.close());
  store.record(draft({ cameraId: 'a', verdict: 'OK' }));
  store.record(draft({ cameraId: 'b', verdict: 'NG' }));
  store.record(draft({ cameraId: 'a', verdict: 'NG' }));
  t.same(
    store.list({ limit: 10 }).map((d) => d.seq),
    [3, 2, 1],
  );
  t.same(
    store.list({ camera: 'a', limit: 10 }).map((d) => d.seq),
    [3, 1],
  );
  t.same(
    store.list({ verdict: 'NG', limit: 1 }).map((d) => d.seq),
    [3],
  );
});

t.test('a path that cannot hold a database is a clear start error', async (t) => {
  const notADir = join(tempDir(), 'a-file');
  writeFileSync(notADir, 'x');
  t.throws(() => DecisionStore.open({ path: join(notADir, 'agent.db'), agentId: 'x', log: quietLog }), {
    code: 'EVA_ERR_STORE_OPEN',
  });
});
