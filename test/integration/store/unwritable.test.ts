import t from 'tap';
import type { Alert } from '../../../agent/alerts.js';
import { RECOVER_PERIOD_MS } from '../../../agent/store/index.js';
import { immutable, mutable } from '../../helpers/faults.js';
import { draft } from '../../helpers/fixtures.js';
import { tempStorage } from '../../helpers/storage.js';

/**
 * Issue 16, failure 7: with the database and its WAL immutable (`chattr +i`: the kernel refuses every
 * write with EPERM, which SQLite reports as "disk I/O error") every verdict failed while `/readyz` said 200,
 * with no alert and no problem.
 */
t.test(
  'an immutable store is visible (readiness, problems, a coded alert), verdicts are held, and stored once it is writable again',
  async (t) => {
    const alerts: Alert[] = [];
    const s = tempStorage({}, { raise: (a) => alerts.push({ ...a, id: '', ts: 0 }) });
    t.teardown(() => s.store.close());
    await s.storage.start();
    t.teardown(() => s.storage.stop());
    for (let i = 0; i < 3; i++) await s.storage.recordOrHold(draft());
    const files = [s.store.path, `${s.store.path}-wal`];
    if (!immutable(t, files)) return;

    const d = await s.storage.recordOrHold(draft({ verdict: 'NG' }));
    t.equal(d.seq, 4, 'answered, with its seq');
    t.equal(d.degraded, true, 'visibly degraded');
    t.match(d.reason, /held in memory, not yet stored: .*disk I\/O error/);
    t.equal(s.store.writable(), false, 'the store says it cannot write');
    t.match(
      s.storage.health.reasons(),
      [/store cannot write \(record: .*disk I\/O error/],
      '/readyz says why',
    );
    t.match(s.storage.health.problems(), [
      { code: 'STORE_UNWRITABLE', severity: 'critical' },
      { code: 'DECISIONS_HELD', severity: 'critical' },
    ]);
    t.match(alerts, [{ code: 'STORE_UNWRITABLE', severity: 'critical', active: true }], 'one coded alert');
    t.throws(() => s.store.markSent('json', [1]), 'an acknowledgement fails too');
    for (let i = 0; i < 20; i++) await s.storage.recordOrHold(draft());
    t.equal(s.storage.held.size, 21);
    await s.clock.advance(RECOVER_PERIOD_MS);
    t.equal(s.storage.held.size, 21, 'still held while the files stay immutable');
    t.equal(alerts.length, 1, 'no alert flapping while it stays broken');

    mutable(files);
    await s.clock.advance(RECOVER_PERIOD_MS);
    t.equal(s.storage.held.size, 0, 'the held verdicts are stored');
    t.same(s.store.getById(d.id), d, 'as they were answered');
    t.same(s.storage.health.reasons(), []);
    t.match(alerts.at(-1), { code: 'STORE_UNWRITABLE', active: false });
    t.equal(s.store.lastSeq(), 24, 'every verdict stored, none lost');
    t.equal(s.store.db.pragma('integrity_check', { simple: true }), 'ok');
  },
);

t.test(
  'only the database file immutable: decisions still go to the WAL, but its checkpoints fail, and that is seen',
  async (t) => {
    const alerts: Alert[] = [];
    // a budget the WAL below (about 7.5 MB, its checkpoints failing) stays under: reaching the budget is
    // DISK_FULL's own case (the budget's check runs between these decisions, each committed in its turn)
    const s = tempStorage({ maxDiskMB: 16 }, { raise: (a) => alerts.push({ ...a, id: '', ts: 0 }) });
    t.teardown(() => s.store.close());
    await s.storage.start();
    t.teardown(() => s.storage.stop());
    if (!immutable(t, [s.store.path])) return;
    // SQLite checkpoints on its own as the WAL grows, silently failing: the WAL grows past its size
    for (let i = 0; i < 150; i++) await s.storage.recordOrHold(draft({ reason: 'x'.repeat(2000) }));
    t.equal(s.storage.held.size, 0, 'decisions are stored (in the WAL)');
    await s.clock.advance(1_000); // the WAL watch
    t.match(s.storage.health.reasons(), [/store cannot write \(checkpoint: .*disk I\/O error/]);
    t.match(alerts, [{ code: 'STORE_UNWRITABLE', active: true }]);
    mutable([s.store.path]);
    await s.clock.advance(1_000); // recovery: a checkpoint goes through
    t.same(s.storage.health.reasons(), []);
    t.match(alerts.at(-1), { code: 'STORE_UNWRITABLE', active: false });
    t.equal(s.store.db.pragma('integrity_check', { simple: true }), 'ok');
  },
);
