import t from 'tap';
import { type DriftReport, DriftStore } from '../../../agent/drift/index.js';
import { DRIFT_REPORTS_KEPT } from '../../../agent/store/index.js';
import { tempStorage } from '../../helpers/storage.js';

const DAY = 24 * 60 * 60_000;

function report(cameraId: string, index: number, ts: number): DriftReport {
  return {
    schema: 1,
    agentId: 'cell-1',
    cameraId,
    ts,
    model: { id: 'washer', version: '1', sha256: 'ab' },
    baseline: null,
    window: { index, count: 10, from: ts - 1000, to: ts },
    status: 'no-baseline',
    statistics: [],
    alerts: [],
    means: { brightness: 100 + index },
  };
}

const count = (s: ReturnType<typeof tempStorage>, cameraId?: string) =>
  (
    s.store.db
      .prepare(`SELECT count(*) AS n FROM drift_reports ${cameraId ? 'WHERE camera_id = ?' : ''}`)
      .get(...(cameraId ? [cameraId] : [])) as { n: number }
  ).n;

t.test(
  'drift window reports: deflated with a summary, past retentionDays deleted by the sweep',
  async (t) => {
    const s = tempStorage({ retentionDays: 30 });
    t.teardown(() => s.store.close());
    const drift = new DriftStore(s.store);
    const now = s.clock.now();
    drift.saveReport(report('cam-1', 0, now - 40 * DAY));
    drift.saveReport(report('cam-1', 1, now - 31 * DAY));
    drift.saveReport(report('cam-1', 2, now - 1 * DAY));
    t.same(drift.latestReport('cam-1'), report('cam-1', 2, now - DAY), 'stored whole');
    t.same(
      drift.history('cam-1', 10).map((h) => [h.index, h.means.brightness]),
      [
        [2, 102],
        [1, 101],
        [0, 100],
      ],
      'history newest first, from the summaries',
    );
    await s.storage.retention.run();
    t.equal(count(s), 1, 'reports older than 30 days deleted');
    t.equal(s.storage.retention.snapshot().driftReportsDeleted, 2);
  },
);

t.test(
  'the disk budget gives up drift reports beyond each camera newest ones before any decision',
  async (t) => {
    const s = tempStorage();
    t.teardown(() => s.store.close());
    const drift = new DriftStore(s.store);
    const now = s.clock.now();
    for (let i = 0; i < DRIFT_REPORTS_KEPT + 30; i++) drift.saveReport(report('cam-1', i, now + i));
    for (let i = 0; i < 20; i++) drift.saveReport(report('cam-2', i, now + i));
    t.ok(s.storage.budget.freeSome(), 'something was freed');
    t.equal(count(s, 'cam-1'), DRIFT_REPORTS_KEPT, 'the newest kept');
    t.equal(count(s, 'cam-2'), 20, "another camera's few untouched");
    t.equal(drift.history('cam-1', 1)[0]?.index, DRIFT_REPORTS_KEPT + 29, 'the latest is among them');
    t.equal(s.storage.budget.drops.drift_report, 30);
  },
);
