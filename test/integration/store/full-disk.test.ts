import { existsSync } from 'node:fs';
import t from 'tap';
import type { Alert } from '../../../agent/alerts.js';
import type { Decision } from '../../../agent/decision/index.js';
import { RECOVER_PERIOD_MS } from '../../../agent/store/index.js';
import { fillDisk, smallDisk } from '../../helpers/faults.js';
import { draft } from '../../helpers/fixtures.js';
import { evidence, noiseJpeg, tempStorage, walkImages } from '../../helpers/storage.js';

/**
 * Issue 16, failure 4, on a real file system that is really full (a 3 MB tmpfs filled to its last byte):
 * deleting rows and marking them sent need WAL room, so what can be freed without SQLite (image files) must
 * go first, and a reserve file makes room for SQLite's own work.
 */
t.test('a really full disk frees synced image files first, and the verdict is stored', async (t) => {
  const dir = smallDisk(t, 3);
  if (!dir) return;
  const s = tempStorage({ dir, maxDiskMB: 2048 });
  t.teardown(() => s.store.close());
  const seqs: number[] = [];
  for (let i = 0; i < 20; i++) {
    const frame = { kind: 'encoded' as const, data: await noiseJpeg(), capturedAt: s.clock.now() };
    seqs.push((await s.storage.record(draft({ verdict: 'NG' }), evidence(frame, s.clock))).seq);
  }
  s.store.markSent('json', seqs);
  s.store.checkpoint();
  const filler = fillDisk(dir);
  t.teardown(() => filler.free());
  const frame = { kind: 'encoded' as const, data: await noiseJpeg(), capturedAt: s.clock.now() };
  const d = await s.storage.record(draft({ verdict: 'NG' }), evidence(frame, s.clock));
  t.equal(d.seq, 21, 'the verdict is stored');
  t.ok(s.store.getById(d.id), 'and can be read back');
  t.ok(s.storage.budget.drops.image_synced > 0, 'synced images made the room');
  t.same(
    walkImages(s.imagesDir),
    { files: s.storage.images.files, bytes: s.storage.images.bytes },
    'the running total matches the files on disk',
  );
  t.equal(s.store.unsent('json', 0, 100, 100).length, 1, 'no delivered decision came back, none was lost');
  filler.free();
  t.equal(s.store.db.pragma('integrity_check', { simple: true }), 'ok');
});

t.test(
  'only undelivered data on a full disk: verdicts are answered degraded, held, and stored in order once space returns',
  async (t) => {
    const dir = smallDisk(t, 3);
    if (!dir) return;
    const alerts: Alert[] = [];
    const s = tempStorage(
      { dir, maxDiskMB: 2048, reserveMB: 0.25 },
      {
        raise: (a) => alerts.push({ ...a, id: '', ts: 0 }),
      },
    );
    t.teardown(() => s.store.close());
    await s.storage.start();
    t.teardown(() => s.storage.stop());
    t.ok(existsSync(`${s.store.path}.reserve`), 'a reserve file is kept beside the store');
    for (let i = 0; i < 5; i++) await s.storage.recordOrHold(draft({ verdict: 'OK' }));
    const filler = fillDisk(dir);
    t.teardown(() => filler.free());

    // the disk is full and nothing is delivered: every verdict is still answered, at once
    const answered: Decision[] = [];
    for (let i = 0; i < 30; i++) answered.push(await s.storage.recordOrHold(draft({ verdict: 'NG' })));
    const held = answered.filter((d) => d.degraded);
    t.ok(held.length > 0, `${held.length} verdicts held in memory`);
    t.same(
      answered.map((d) => d.seq),
      Array.from({ length: 30 }, (_, i) => 6 + i),
      'every verdict has its seq, in order, stored or held',
    );
    t.match(held[0]?.reason, /held in memory, not yet stored: .*full/);
    t.equal(
      s.storage.held.size,
      held.filter((d) => !s.store.getById(d.id)).length,
      'held: those not stored yet (a little room comes and goes as the WAL is checkpointed)',
    );
    t.ok(s.storage.held.size > 0);
    t.match(s.storage.health.reasons().join('; '), /store cannot write \(record: .*full/, '/readyz says why');
    t.match(
      s.storage.health.problems().map((p) => p.code),
      ['DISK_FULL', 'DECISIONS_HELD'],
      'problems[] says so',
    );
    t.match(alerts, [{ code: 'DISK_FULL', active: true, severity: 'critical' }], 'a critical alert');
    t.ok(existsSync(`${s.store.path}.reserve`), 'the reserve is not spent on new decisions');

    // space returns: the recovery loop stores the held verdicts under their own ids and seqs
    filler.free();
    await s.clock.advance(RECOVER_PERIOD_MS);
    t.equal(s.storage.held.size, 0, 'nothing held any more');
    for (const d of held) t.same(s.store.getById(d.id), d, `seq ${d.seq} stored as it was answered`);
    t.same(s.storage.health.reasons(), [], 'ready again');
    t.match(alerts.at(-1), { code: 'DISK_FULL', active: false }, 'the alert clears');
    t.same(
      s.store.unsent('json', 0, 1000, 1000).map((e) => e.seq),
      Array.from({ length: 35 }, (_, i) => i + 1),
      'every decision is queued for delivery, in seq order',
    );
    t.equal(s.store.db.pragma('integrity_check', { simple: true }), 'ok');
  },
);

t.test('acknowledgements on a full disk: the reserve makes the room, then synced data goes', async (t) => {
  const dir = smallDisk(t, 3);
  if (!dir) return;
  const s = tempStorage({ dir, maxDiskMB: 2048, reserveMB: 0.25 });
  t.teardown(() => s.store.close());
  await s.storage.start();
  t.teardown(() => s.storage.stop());
  const seqs: number[] = [];
  for (let i = 0; i < 200; i++)
    seqs.push((await s.storage.recordOrHold(draft({ reason: 'x'.repeat(2000) }))).seq);
  const filler = fillDisk(dir);
  t.teardown(() => filler.free());
  // the broker returns and acknowledges everything; the disk stays full (someone else's file)
  let acked = false;
  for (let i = 0; i < 10 && !acked; i++) {
    try {
      s.store.markSent('json', seqs);
      acked = true;
    } catch {
      await s.clock.advance(RECOVER_PERIOD_MS); // the recovery loop sees the failing acks
    }
  }
  t.ok(acked, 'the acknowledgements were written');
  await s.clock.advance(RECOVER_PERIOD_MS);
  const d = await s.storage.recordOrHold(draft({ verdict: 'NG' }));
  t.equal(d.degraded, false, 'a new verdict is stored again: synced rows made the room');
  t.equal(s.store.getById(d.id)?.seq, d.seq);
});
