import BetterSqlite3 from 'better-sqlite3';
import t, { type Test } from 'tap';
import { Alerts } from '../../../agent/alerts.js';
import { parseConfigText } from '../../../agent/config/index.js';
import { EventBus } from '../../../agent/events.js';
import { AgentMetrics } from '../../../agent/metrics.js';
import { AlertPublisher, MqttLink } from '../../../agent/sync/index.js';
import { collect, startAedes } from '../../helpers/brokers.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { waitFor } from '../../helpers/net.js';
import { evidence, noiseJpeg, tempStorage, walkImages } from '../../helpers/storage.js';

const MB = 1024 * 1024;

/** A real AlertPublisher on a real (in-process) broker, so R/alerts is what a plant would see. */
async function alertsOnBroker(t: Test) {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const sub = await collect(broker.url, 't/disk/alerts');
  t.teardown(() => sub.end());
  const config = parseConfigText(
    `agent: { id: disk-test }
mqtt: { url: "${broker.url}", topicRoot: t/disk, reconnectMinMs: 100 }
models: [{ id: m, path: /unused/model.onnx }]
cameras: [{ id: cam-1, source: { type: synthetic }, trigger: { type: mqtt }, model: m }]
`,
    'test',
    {},
  );
  const deps = { clock: { now: Date.now, setTimeout, clearTimeout } as never, log: quietLog };
  const events = new EventBus(quietLog);
  const link = new MqttLink(config.mqtt, 'disk-test', 't/disk', {
    ...deps,
    events,
    metrics: new AgentMetrics(false),
  });
  const alerts = new Alerts({ ...deps, events });
  const publisher = new AlertPublisher(link, { ...deps, events, metrics: new AgentMetrics(false) });
  await link.start();
  await publisher.start();
  t.teardown(() => link.stop());
  await waitFor(() => link.connected, 5_000, 'broker connection');
  return { alerts, sub };
}

const dropsOf = async (metrics: AgentMetrics) =>
  Object.fromEntries((await metrics.drops.get()).values.map((v) => [v.labels.kind, v.value]));

t.test(
  'a small disk budget drops synced images, then synced decisions, then alerts and keeps every undelivered decision',
  async (t) => {
    const { alerts, sub } = await alertsOnBroker(t);
    const s = tempStorage({ maxDiskMB: 3 }, alerts);
    t.teardown(() => s.store.close());
    await s.storage.budget.start();
    t.teardown(() => s.storage.budget.stop());
    const record = async (verdict: 'NG' | 'OK' = 'NG') => {
      const frame = { kind: 'encoded' as const, data: await noiseJpeg(), capturedAt: s.clock.now() };
      const d = await s.storage.record(
        draft({ verdict, decidedAt: s.clock.now() }),
        evidence(frame, s.clock),
      );
      // the check runs just after the verdict, an episode across turns of the event loop: let both finish
      await new Promise(setImmediate);
      await s.storage.budget.settled();
      return d;
    };
    const seqsWithImages = () =>
      (s.store.db.prepare('SELECT seq FROM images ORDER BY seq').all() as { seq: number }[]).map(
        (r) => r.seq,
      );
    const decisionSeqs = () =>
      (s.store.db.prepare('SELECT seq FROM decisions ORDER BY seq').all() as { seq: number }[]).map(
        (r) => r.seq,
      );

    // 1. twenty decisions with images, delivered
    for (let i = 0; i < 20; i++) {
      if ((await record()).image?.stored !== true) t.fail(`decision ${i + 1} kept no image`);
    }
    s.store.markSent(
      'json',
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    t.same(await dropsOf(s.metrics), {}, 'nothing dropped while within budget');

    // 2. undelivered decisions until the first drop: it is images of synced decisions, oldest first
    let n = 20;
    while ((await dropsOf(s.metrics)).image_synced === undefined) {
      await record();
      n += 1;
      if (n > 200) throw new Error('the budget is never reached');
    }
    t.same(decisionSeqs().length, n, 'no decision row dropped while synced images could go');
    const withImages = seqsWithImages();
    const firstKept = withImages[0] as number;
    t.ok(firstKept > 1, 'the oldest images went first');
    t.same(
      withImages,
      Array.from({ length: n - firstKept + 1 }, (_, i) => firstKept + i),
      'every image from the oldest kept one on is still there',
    );
    t.ok(s.storage.budget.usage().totalBytes <= 3 * MB, 'back within the budget');
    t.notOk(s.storage.budget.isFull);

    // 3. more undelivered: synced images run out, then synced decision rows go, then the agent is full
    while (!s.storage.budget.isFull) {
      await record();
      n += 1;
      if (n > 400) throw new Error('the budget never runs out');
    }
    const drops = await dropsOf(s.metrics);
    t.equal(drops.image_synced, 20, 'every synced image dropped');
    t.equal(drops.decision_synced, 20, 'then every synced decision row');
    t.ok((drops.image_unsynced ?? 0) > 0, 'then images of undelivered decisions');
    t.same(
      decisionSeqs(),
      Array.from({ length: n - 20 }, (_, i) => 21 + i),
      'every undelivered decision kept',
    );
    const alert = await waitFor(
      () => sub.messages.map((m) => m.json()).find((a) => a.code === 'DISK_FULL' && a.active === true),
      5_000,
      'DISK_FULL on R/alerts',
    );
    t.equal(alert.severity, 'critical');
    t.match(alert.message, /only undelivered decisions remain/);
    t.same(
      alerts.active().map((a) => a.code),
      ['DISK_FULL'],
    );

    // 4. still full: verdicts keep being recorded, without images, and that is counted
    for (let i = 0; i < 5; i++) {
      const d = await record();
      n += 1;
      t.not(d.image?.stored, true, 'no new image while full');
      t.ok(s.store.getById(d.id), 'the verdict is stored');
    }
    t.equal((await dropsOf(s.metrics)).image_not_stored_disk_full, 5);
    t.same(
      walkImages(s.imagesDir),
      { files: s.storage.images.files, bytes: s.storage.images.bytes },
      'the running total matches the files on disk',
    );
    const snap = s.storage.snapshot();
    t.equal(snap.disk.full, true);
    t.equal(snap.disk.drops.decision_synced, 20, 'drops published in the status');

    // 5. the broker takes the backlog: synced rows can go, the alert clears, images are kept again
    s.store.markSent(
      'json',
      decisionSeqs().filter((q) => q < n - 10),
    );
    await s.clock.advance(60_000);
    await s.storage.budget.settled();
    t.notOk(s.storage.budget.isFull, 'the periodic check freed space');
    await waitFor(
      () => sub.messages.map((m) => m.json()).find((a) => a.code === 'DISK_FULL' && a.active === false),
      5_000,
      'DISK_FULL cleared on R/alerts',
    );
    t.equal((await record()).image?.stored, true, 'images are stored again');
    // the store holds its file exclusively while open (docs/storage.md): read what it left on disk
    await s.storage.budget.stop();
    s.store.close();
    const db = new BetterSqlite3(s.store.path, { readonly: true });
    t.teardown(() => db.close());
    t.equal(
      (
        db
          .prepare(
            'SELECT count(*) AS n FROM decisions d WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.seq = d.seq AND o.sent_at IS NULL)',
          )
          .get() as { n: number }
      ).n,
      12,
      'the eleven left undelivered and the new one are all there',
    );
  },
);

t.test('SQLite refusing to grow (SQLITE_FULL) frees synced data and stores the verdict', async (t) => {
  const alerts: { code: string; active: boolean }[] = [];
  const s = tempStorage({}, { raise: (a) => alerts.push(a) });
  t.teardown(() => s.store.close());
  const long = 'x'.repeat(3000);
  for (let i = 0; i < 40; i++) s.store.record(draft({ reason: long }));
  s.store.markSent(
    'json',
    Array.from({ length: 30 }, (_, i) => i + 1),
  );
  // the database may not grow by a single page: as on a full disk, the next insert fails with SQLITE_FULL
  const pages = s.store.db.pragma('page_count', { simple: true }) as number;
  s.store.db.pragma(`max_page_count = ${pages}`);
  const d = await s.storage.record(draft({ reason: long, verdict: 'NG' }));
  t.equal(d.seq, 41, 'the verdict was stored after freeing space');
  await new Promise(setImmediate); // the budget's check just after the verdict clears the alert
  t.same(
    alerts.map((a) => [a.code, a.active]),
    [
      ['DISK_FULL', true],
      ['DISK_FULL', false],
    ],
    'raised, then cleared once the write went through',
  );
  t.ok(s.storage.budget.drops.decision_synced > 0, 'synced decisions made the room');
  const undelivered = s.store.unsent('json', 0, 1000, 1000).map((e) => e.seq);
  t.same(
    undelivered,
    [...Array.from({ length: 10 }, (_, i) => 31 + i), 41],
    'no undelivered decision touched',
  );
});

t.test(
  'a full disk with only undelivered decisions: a clear error, and nothing stored is lost',
  async (t) => {
    const alerts: { code: string; active: boolean; message: string }[] = [];
    const s = tempStorage({}, { raise: (a) => alerts.push(a) });
    t.teardown(() => s.store.close());
    const long = 'x'.repeat(3000);
    for (let i = 0; i < 20; i++) s.store.record(draft({ reason: long }));
    const pages = s.store.db.pragma('page_count', { simple: true }) as number;
    s.store.db.pragma(`max_page_count = ${pages}`);
    await t.rejects(s.storage.record(draft({ reason: long })), {
      code: 'EVA_ERR_STORE_FULL',
      message: /disk is full.*stored decisions are intact/,
    });
    t.equal(alerts[0]?.code, 'DISK_FULL');
    t.equal(alerts.at(-1)?.active, true, 'the alert stays raised');
    t.equal(s.store.unsent('json', 0, 1000, 1000).length, 20, 'all twenty still queued');
    t.equal(s.store.db.pragma('integrity_check', { simple: true }), 'ok');
    // room again (an operator freed the disk): recording goes on where it stopped
    s.store.db.pragma('max_page_count = 1073741823');
    t.equal((await s.storage.record(draft())).seq, 21, 'seq continues, none lost or reused');
  },
);

t.test('a big episode drops a batch at a time, letting the event loop run in between', async (t) => {
  const s = tempStorage();
  t.teardown(() => s.store.close());
  const seqs: number[] = [];
  for (let i = 0; i < 450; i++) {
    const frame = { kind: 'encoded' as const, data: await noiseJpeg(8), capturedAt: s.clock.now() };
    seqs.push((await s.storage.record(draft({ verdict: 'NG' }), evidence(frame, s.clock))).seq);
  }
  await s.storage.budget.settled();
  s.store.markSent('json', seqs);
  // a part's timer (or a frame) waiting on the event loop while the budget drops
  let turns = 0;
  let dropping = true;
  const tick = () => {
    if (!dropping) return;
    turns += 1;
    setImmediate(tick);
  };
  setImmediate(tick);
  await s.storage.budget.enforce(1); // below anything reachable: every synced image and row goes
  dropping = false;
  t.equal(s.storage.budget.drops.image_synced, 450, 'every synced image, in three batches');
  t.equal(s.storage.budget.drops.decision_synced, 450);
  t.ok(turns >= 4, `the event loop ran between batches (${turns} turns)`);
  t.same(walkImages(s.imagesDir), { files: 0, bytes: 0 });
});
