import { existsSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import t from 'tap';
import { EventBus } from '../../../agent/events.js';
import { AgentMetrics } from '../../../agent/metrics.js';
import { DecisionStore, SCHEMA_VERSION, Storage } from '../../../agent/store/index.js';
import { MIGRATIONS } from '../../../agent/store/migrations.js';
import { tempDir } from '../../helpers/agent-process.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { evidence, noiseJpeg } from '../../helpers/storage.js';

t.test(
  'a schema v2 database (no images table) is backed up and migrated to the latest, data kept',
  async (t) => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    const v2 = new BetterSqlite3(path);
    v2.pragma('journal_mode = WAL');
    for (const sql of MIGRATIONS.slice(0, 2)) v2.exec(sql);
    v2.pragma('user_version = 2');
    v2.exec(`
    INSERT INTO decisions (seq, id, camera_id, verdict, triggered_at, decided_at, payload)
      VALUES (1, 'd-1', 'cam-1', 'NG', 1, 1, '{"seq":1,"id":"d-1"}'),
             (2, 'd-2', 'cam-1', 'OK', 2, 2, '{"seq":2,"id":"d-2"}');
    INSERT INTO outbox (seq, channel, enqueued_at, sent_at) VALUES (1, 'json', 1, 5), (2, 'json', 2, NULL);
    INSERT INTO outcomes (decision_id, actual, received_at) VALUES ('d-1', 'NG', 9);
  `);
    v2.close();

    const store = DecisionStore.open({ path, agentId: 'cell-1', log: quietLog });
    t.teardown(() => store.close());
    t.ok(existsSync(`${path}.v2.bak`), 'backup written before migrating');
    const backup = new BetterSqlite3(`${path}.v2.bak`, { readonly: true });
    t.equal(backup.pragma('user_version', { simple: true }), 2);
    t.equal(
      (backup.prepare('SELECT count(*) AS n FROM decisions').get() as { n: number }).n,
      2,
      'with the data',
    );
    backup.close();

    t.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    t.same(
      store.unsent('json', 0, 100, 10).map((e) => e.seq),
      [2],
      'delivery state kept',
    );
    t.equal((store.db.prepare('SELECT count(*) AS n FROM outcomes').get() as { n: number }).n, 1);
    t.ok(store.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'images'").get(), 'images table added');

    const clock = new ManualClock();
    const storage = Storage.open(
      store,
      { imagesDir: join(dir, 'images'), maxDiskMB: 64, retentionDays: 30, keepOkImageEvery: 1 },
      {
        clock,
        log: quietLog,
        metrics: new AgentMetrics(false),
        alerts: { raise: () => {} },
        events: new EventBus(quietLog),
      },
    );
    const frame = { kind: 'encoded' as const, data: await noiseJpeg(32), capturedAt: 1 };
    const d = await storage.record(draft({ verdict: 'NG' }), evidence(frame, clock));
    t.equal(d.seq, 3, 'seq continues');
    t.equal(d.image?.stored, true, 'and images are kept on the migrated store');
  },
);

t.test('the append-only guard holds on a migrated store with images', async (t) => {
  const dir = tempDir();
  const store = DecisionStore.open({ path: join(dir, 'agent.db'), agentId: 'c', log: quietLog });
  t.teardown(() => store.close());
  const d = store.record(draft());
  store.markSent('json', [d.seq]);
  store.db
    .prepare("INSERT INTO images (seq, kind, sha256, bytes, created_at) VALUES (?, 'frame', 'ab', 1, 1)")
    .run(d.seq);
  t.throws(
    () => store.db.prepare('DELETE FROM decisions WHERE seq = ?').run(d.seq),
    'no sweep flag: refused',
  );
  t.throws(() => store.db.prepare("UPDATE decisions SET verdict = 'OK'").run(), { message: /append-only/ });
  t.ok(store.getById(d.id), 'still there');
});
