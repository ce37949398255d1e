import t from 'tap';
import type { Verdict } from '../../../agent/decision/index.js';
import { type AuditFilter, AuditLog, AuditQuery } from '../../../agent/store/index.js';
import { draft, tempStore } from '../../helpers/fixtures.js';

const VERDICTS: Verdict[] = ['OK', 'NG', 'UNCERTAIN', 'ERROR'];

/** 120 decisions over 3 cameras and 4 verdicts, one per ms from t=1000, every third with a part id. */
function filled() {
  const { store } = tempStore();
  for (let i = 0; i < 120; i++) {
    store.record(
      draft({
        cameraId: `cam-${i % 3}`,
        verdict: VERDICTS[i % 4] as Verdict,
        decidedAt: 1000 + i,
        ...(i % 3 === 0 ? { partId: `P-${i % 9}` } : {}),
      }),
    );
  }
  const audit = new AuditLog(store);
  return { store, audit, query: new AuditQuery(store, audit) };
}

/** Every page of a query, following nextBefore. */
function allPages(query: AuditQuery, filter: Omit<AuditFilter, 'before'>): number[][] {
  const pages: number[][] = [];
  let before: number | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = query.page({ ...filter, before });
    pages.push(page.decisions.map((d) => d.seq));
    if (page.nextBefore === null) return pages;
    before = page.nextBefore;
  }
  throw new Error('paging did not end');
}

t.test(
  'filters select exactly the matching decisions, newest first, and paging visits each once',
  async (t) => {
    const { store, query } = filled();
    t.teardown(() => store.close());
    const cases: Omit<AuditFilter, 'limit'>[] = [
      {},
      { camera: 'cam-1' },
      { verdict: 'NG' },
      { partId: 'P-3' },
      { camera: 'cam-0', verdict: 'OK' },
      { camera: 'cam-0', partId: 'P-0' },
      { verdict: 'UNCERTAIN', partId: 'P-6', camera: 'cam-0' },
      { from: 1010, to: 1050 },
      { camera: 'cam-2', verdict: 'ERROR', from: 1020 },
      { camera: 'nobody' },
    ];
    for (const c of cases) {
      const expected = Array.from({ length: 120 }, (_, i) => i)
        .filter(
          (i) =>
            (c.camera === undefined || `cam-${i % 3}` === c.camera) &&
            (c.verdict === undefined || VERDICTS[i % 4] === c.verdict) &&
            (c.partId === undefined || (i % 3 === 0 && `P-${i % 9}` === c.partId)) &&
            (c.from === undefined || 1000 + i >= c.from) &&
            (c.to === undefined || 1000 + i <= c.to),
        )
        .map((i) => i + 1)
        .reverse();
      const pages = allPages(query, { ...c, limit: 7 });
      t.same(pages.flat(), expected, `${JSON.stringify(c)}: ${expected.length} decisions`);
      t.ok(
        pages.slice(0, -1).every((p) => p.length === 7),
        'every page but the last is full',
      );
    }
  },
);

t.test(
  'newest first is by decision time, seq breaking ties, and paging holds across equal times',
  async (t) => {
    const { store } = tempStore();
    t.teardown(() => store.close());
    // a clock step back (NTP) between seq 2 and 3, and three decisions in one millisecond
    for (const at of [100, 200, 150, 300, 300, 300, 50]) store.record(draft({ decidedAt: at }));
    const query = new AuditQuery(store, new AuditLog(store));
    t.same(allPages(query, { limit: 2 }), [[6, 5], [4, 2], [3, 1], [7]]);
    t.same(allPages(query, { limit: 1, to: 300, from: 150 }).flat(), [6, 5, 4, 2, 3]);
  },
);

t.test('a cursor whose decision is gone continues from the nearest one below it', async (t) => {
  const { store, query } = filled();
  t.teardown(() => store.close());
  t.same(
    query.page({ before: 10_000, limit: 3 }).decisions.map((d) => d.seq),
    [120, 119, 118],
    'a seq past the end starts at the newest',
  );
  t.same(
    query.page({ before: 1, limit: 3 }),
    { decisions: [], nextBefore: null },
    'nothing before the first',
  );
  t.equal(query.page({ limit: 120 }).nextBefore, null, 'an exactly full last page has no next');
});

t.test('detail gives the decision with its outcomes and overrides, by id or by seq', async (t) => {
  const { store, audit, query } = filled();
  t.teardown(() => store.close());
  const d = store.record(draft({ verdict: 'NG', partId: 'Q-1' }));
  audit.addOutcome(d.id, 'OK', 'recheck');
  audit.addOverride(d.id, 'OK', 'anna', 'cosmetic');
  const byId = query.detail(d.id);
  t.match(byId, { ...d, outcomes: [{ actual: 'OK', source: 'recheck' }], overrides: [{ user: 'anna' }] });
  t.same(query.detail(String(d.seq)), byId);
  t.same(query.detail('1')?.outcomes, [], 'no outcome yet is an empty list');
  t.equal(query.detail('999999'), undefined);
  t.equal(query.detail('nope'), undefined);
});

t.test('every filter combination walks one index: no table scan, no sort', async (t) => {
  const { store, query } = filled();
  t.teardown(() => store.close());
  const values = { camera: 'cam-1', verdict: 'NG', partId: 'P-3', from: 1010, to: 1100, before: 50 } as const;
  const keys = Object.keys(values) as (keyof typeof values)[];
  for (let mask = 0; mask < 1 << keys.length; mask++) {
    const filter: AuditFilter = { limit: 100 };
    keys.forEach((k, i) => {
      if (mask & (1 << i)) Object.assign(filter, { [k]: values[k] });
    });
    const { sql, args } = query.plan(filter);
    const plan = (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map(
      (r) => r.detail,
    );
    const label = `${keys.filter((_, i) => mask & (1 << i)).join('+') || 'no filter'}: ${plan.join(' | ')}`;
    t.notMatch(plan.join(' '), /TEMP B-TREE/, `${label} (no sort)`);
    t.ok(
      plan.every(
        (p) =>
          /^SEARCH decisions USING INDEX/.test(p) || p === 'SCAN decisions USING INDEX decisions_decided',
      ),
      `${label} (index only)`,
    );
    if (filter.camera && filter.verdict && !filter.partId)
      t.match(plan[0], /decisions_camera_verdict_decided/);
    if (filter.partId) t.match(plan[0], /decisions_part_decided/, 'a part id leads');
  }
});
