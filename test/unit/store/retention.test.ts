import { existsSync } from 'node:fs';
import t from 'tap';
import { RETENTION_PERIOD_MS } from '../../../agent/store/index.js';
import { draft } from '../../helpers/fixtures.js';
import { evidence, noiseJpeg, tempStorage } from '../../helpers/storage.js';

const DAY = 24 * 60 * 60_000;

function count(s: ReturnType<typeof tempStorage>, table: string): number {
  return (s.store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

/** Outcome, override and request-log rows as the request handlers write them (migration 2's tables). */
function addAudit(s: ReturnType<typeof tempStorage>, decisionId: string, at: number): void {
  s.store.db
    .prepare("INSERT INTO outcomes (decision_id, actual, source, received_at) VALUES (?, 'NG', 'recheck', ?)")
    .run(decisionId, at);
  s.store.db
    .prepare(
      "INSERT INTO overrides (decision_id, verdict, user, reason, received_at) VALUES (?, 'OK', 'ann', 'fine', ?)",
    )
    .run(decisionId, at);
}

function addRequest(s: ReturnType<typeof tempStorage>, at: number): void {
  s.store.db
    .prepare(
      "INSERT INTO requests (received_at, via, name, body, status) VALUES (?, 'mqtt', 'trigger', '{}', 'ok')",
    )
    .run(at);
}

t.test(
  'the sweep deletes synced data past retentionDays with its images and audit rows, at start and hourly',
  async (t) => {
    const s = tempStorage({ retentionDays: 30 });
    t.teardown(() => s.store.close());
    const now = s.clock.now();
    const record = async (ageDays: number) => {
      const frame = { kind: 'encoded' as const, data: await noiseJpeg(32), capturedAt: now };
      const d = await s.storage.record(
        draft({ verdict: 'NG', decidedAt: now - ageDays * DAY, triggeredAt: now - ageDays * DAY }),
        evidence(frame, s.clock),
      );
      addAudit(s, d.id, now - ageDays * DAY);
      return d;
    };
    const oldSynced = [await record(40), await record(31)];
    const oldUnsynced = await record(45);
    const youngSynced = await record(29);
    s.store.markSent('json', [...oldSynced.map((d) => d.seq), youngSynced.seq]);
    addRequest(s, now - 31 * DAY);
    addRequest(s, now - 1 * DAY);
    const oldFiles = oldSynced.map((d) => s.storage.images.find(d.seq, 'frame')?.path as string);
    t.ok(oldFiles.every((f) => existsSync(f)));

    await s.storage.retention.start();
    t.teardown(() => s.storage.retention.stop());
    t.same(
      (s.store.db.prepare('SELECT seq FROM decisions ORDER BY seq').all() as { seq: number }[]).map(
        (r) => r.seq,
      ),
      [oldUnsynced.seq, youngSynced.seq],
      'old synced ones gone; the old undelivered one and the young one stay',
    );
    t.notOk(s.store.getById(oldSynced[0]?.id as string));
    t.ok(
      oldFiles.every((f) => !existsSync(f)),
      'their image files are gone',
    );
    t.equal(count(s, 'images'), 2);
    t.equal(count(s, 'outcomes'), 2, 'outcomes of deleted decisions went with them');
    t.equal(count(s, 'overrides'), 2);
    t.equal(count(s, 'requests'), 1, 'the old request-log row went');
    t.same(s.storage.retention.snapshot().deleted, { decisions: 2, images: 2, requests: 1 });
    t.same(
      Object.fromEntries(
        (await s.metrics.retentionDeleted.get()).values.map((v) => [v.labels.kind, v.value]),
      ),
      { decisions: 2, images: 2, requests: 1 },
    );
    t.equal(s.storage.retention.snapshot().lastRunAt, now);

    // a day later the young one is past the limit; the hourly sweep takes it (and never the undelivered one)
    await s.clock.advance(DAY + RETENTION_PERIOD_MS);
    t.same(
      (s.store.db.prepare('SELECT seq FROM decisions').all() as { seq: number }[]).map((r) => r.seq),
      [oldUnsynced.seq],
    );
    t.equal(s.storage.retention.snapshot().deleted.decisions, 3);
    t.equal(s.store.stats().backlog, 1, 'the undelivered one is still queued');
  },
);

t.test(
  'a decision delivered on one channel but not the other is not synced: retention keeps it',
  async (t) => {
    const s = tempStorage({ retentionDays: 1, channels: ['json', 'sparkplug'] });
    t.teardown(() => s.store.close());
    const old = s.clock.now() - 10 * DAY;
    const a = s.store.record(draft({ decidedAt: old }));
    const b = s.store.record(draft({ decidedAt: old }));
    s.store.markSent('json', [a.seq, b.seq]);
    s.store.markSent('sparkplug', [b.seq]);
    const run = await s.storage.retention.run();
    t.equal(run.decisions, 1);
    t.ok(s.store.getById(a.id), 'sparkplug has not delivered it yet');
    t.notOk(s.store.getById(b.id));
  },
);

t.test('seq is never reused after retention deleted the newest rows', async (t) => {
  const s = tempStorage({ retentionDays: 1 });
  t.teardown(() => s.store.close());
  const old = s.clock.now() - 2 * DAY;
  for (let i = 0; i < 3; i++) s.store.record(draft({ decidedAt: old }));
  s.store.markSent('json', [1, 2, 3]);
  t.equal((await s.storage.retention.run()).decisions, 3);
  t.equal(s.store.record(draft()).seq, 4);
});

t.test('a big backlog is swept a batch at a time, letting the event loop run in between', async (t) => {
  const s = tempStorage({ retentionDays: 1 });
  t.teardown(() => s.store.close());
  const old = s.clock.now() - 2 * DAY;
  const seqs: number[] = [];
  for (let i = 0; i < 450; i++) seqs.push(s.store.record(draft({ decidedAt: old })).seq);
  s.store.markSent('json', seqs);
  // a part's timer (or a frame) waiting on the event loop while the sweep works
  let turns = 0;
  let sweeping = true;
  const tick = () => {
    if (!sweeping) return;
    turns += 1;
    setImmediate(tick);
  };
  setImmediate(tick);
  const run = await s.storage.retention.run();
  sweeping = false;
  t.equal(run.decisions, 450, 'all of it, in three batches');
  t.ok(turns >= 2, `the event loop ran between batches (${turns} turns)`);
});
