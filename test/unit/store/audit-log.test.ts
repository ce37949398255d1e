import BetterSqlite3 from 'better-sqlite3';
import t from 'tap';
import { AuditLog, DecisionStore, MAX_LOGGED_BODY } from '../../../agent/store/index.js';
import { draft, quietLog, tempStore } from '../../helpers/fixtures.js';

function setup() {
  const { store, path } = tempStore();
  let now = 5_000;
  const audit = new AuditLog(store, () => now++);
  return { store, path, audit };
}

t.test('outcomes and overrides are written beside a known decision and read back in order', async (t) => {
  const { store, audit } = setup();
  t.teardown(() => store.close());
  const d = store.record(draft({ verdict: 'NG' }));
  const o1 = audit.addOutcome(d.id, 'OK', 'recheck-station');
  t.same(o1, {
    id: 1,
    decisionId: d.id,
    actual: 'OK',
    source: 'recheck-station',
    receivedAt: 5000,
    duplicate: false,
  });
  const o2 = audit.addOutcome(d.id, 'NG');
  t.equal(o2?.source, null, 'source is optional');
  const v = audit.addOverride(d.id, 'OK', 'anna', 'burr only, within tolerance');
  t.match(v, { id: 1, verdict: 'OK', user: 'anna', duplicate: false });
  t.same(
    audit.outcomesOf(d.id).map((o) => [o.actual, o.source]),
    [
      ['OK', 'recheck-station'],
      ['NG', null],
    ],
  );
  t.same(
    audit.overridesOf(d.id).map((o) => [o.verdict, o.user, o.reason]),
    [['OK', 'anna', 'burr only, within tolerance']],
  );
  t.same(store.getById(d.id), d, 'the decision itself is untouched (append-only)');
});

t.test('an unknown decision writes nothing', async (t) => {
  const { store, path, audit } = setup();
  store.record(draft());
  t.equal(audit.addOutcome('no-such-id', 'OK'), undefined);
  t.equal(audit.addOverride('no-such-id', 'NG', 'a', 'b'), undefined);
  store.close();
  const db = new BetterSqlite3(path, { readonly: true });
  t.teardown(() => db.close());
  t.equal((db.prepare('SELECT count(*) AS n FROM outcomes').get() as { n: number }).n, 0);
  t.equal((db.prepare('SELECT count(*) AS n FROM overrides').get() as { n: number }).n, 0);
});

t.test('a repeated identical outcome or override is reported as a duplicate, not stored twice', async (t) => {
  const { store, audit } = setup();
  t.teardown(() => store.close());
  const d = store.record(draft());
  const first = audit.addOutcome(d.id, 'NG', 'mes');
  const again = audit.addOutcome(d.id, 'NG', 'mes');
  t.equal(again?.duplicate, true);
  t.equal(again?.id, first?.id);
  t.equal(audit.addOutcome(d.id, 'NG', 'manual')?.duplicate, false, 'another source is another outcome');
  t.equal(audit.addOutcome(d.id, 'NG')?.duplicate, false, 'no source differs from a source');
  t.equal(audit.addOutcome(d.id, 'NG')?.duplicate, true, 'no source twice is a duplicate');
  audit.addOverride(d.id, 'OK', 'anna', 'r');
  t.equal(audit.addOverride(d.id, 'OK', 'anna', 'r')?.duplicate, true);
  t.equal(audit.addOverride(d.id, 'NG', 'anna', 'r')?.duplicate, false, 'a changed mind is a new override');
  t.equal(audit.outcomesOf(d.id).length, 3);
  t.equal(audit.overridesOf(d.id).length, 2);
});

t.test(
  'a duplicate is identical to the LATEST row: a correction back to an earlier answer is stored',
  async (t) => {
    const { store, audit } = setup();
    t.teardown(() => store.close());
    const d = store.record(draft());
    audit.addOutcome(d.id, 'NG', 'mes');
    audit.addOutcome(d.id, 'OK', 'mes');
    const back = audit.addOutcome(d.id, 'NG', 'mes');
    t.equal(back?.duplicate, false, 'NG after OK is a correction, not a redelivery of the first NG');
    t.same(
      audit.outcomesOf(d.id).map((o) => o.actual),
      ['NG', 'OK', 'NG'],
      'the latest ground truth is NG',
    );
    t.equal(audit.addOutcome(d.id, 'NG', 'mes')?.duplicate, true, 'the same NG again is a redelivery');
    t.equal(audit.outcomesOf(d.id).length, 3);

    audit.addOverride(d.id, 'NG', 'anna', 'dent');
    audit.addOverride(d.id, 'OK', 'anna', 'dent');
    t.equal(audit.addOverride(d.id, 'NG', 'anna', 'dent')?.duplicate, false, 'back to NG is a new override');
    t.equal(audit.addOverride(d.id, 'NG', 'anna', 'dent')?.duplicate, true);
    t.equal(audit.addOverride(d.id, 'NG', 'ben', 'dent')?.duplicate, false, 'another user differs');
    t.equal(audit.addOverride(d.id, 'NG', 'ben', 'dent, deep')?.duplicate, false, 'another reason differs');
    t.same(
      audit.overridesOf(d.id).map((o) => [o.verdict, o.user]),
      [
        ['NG', 'anna'],
        ['OK', 'anna'],
        ['NG', 'anna'],
        ['NG', 'ben'],
        ['NG', 'ben'],
      ],
    );
  },
);

t.test('the request log keeps every request, truncates big bodies, pages newest first', async (t) => {
  const { store, audit } = setup();
  t.teardown(() => store.close());
  audit.logRequest({ receivedAt: 1, via: 'mqtt', name: 'trigger', body: '{"camera":"c"}', status: 'ok' });
  audit.logRequest({
    receivedAt: 2,
    via: 'http',
    name: 'outcome',
    body: '{oops',
    status: 'error',
    error: 'malformed JSON',
  });
  audit.logRequest({
    receivedAt: 3,
    via: 'http',
    name: 'trigger',
    body: 'x'.repeat(100_000),
    status: 'error',
    error: 'e',
  });
  audit.logRequest({ receivedAt: 4, via: 'internal', name: 'trigger', body: null, status: 'ok' });
  const all = audit.requests(10);
  t.same(
    all.map((r) => [r.id, r.via, r.name, r.status]),
    [
      [4, 'internal', 'trigger', 'ok'],
      [3, 'http', 'trigger', 'error'],
      [2, 'http', 'outcome', 'error'],
      [1, 'mqtt', 'trigger', 'ok'],
    ],
  );
  t.same(all[2], {
    id: 2,
    receivedAt: 2,
    via: 'http',
    name: 'outcome',
    body: '{oops',
    status: 'error',
    error: 'malformed JSON',
  });
  t.notOk('error' in (all[3] ?? {}), 'no error on a good request');
  const big = all[1]?.body ?? '';
  t.ok(big.length < MAX_LOGGED_BODY + 100, `a 100 kB body is cut (${big.length} chars kept)`);
  t.match(big, /\[truncated, 100000 characters in all\]$/);
  t.same(
    audit.requests(2, 3).map((r) => r.id),
    [2, 1],
    'paged by id',
  );
});

t.test('the audit tables survive a restart', async (t) => {
  const { store, path, audit } = setup();
  const d = store.record(draft());
  audit.addOverride(d.id, 'NG', 'bob', 'crack seen by eye');
  audit.logRequest({ receivedAt: 1, via: 'mqtt', name: 'override', body: '{}', status: 'ok' });
  store.close();
  const reopened = DecisionStore.open({ path, agentId: 'cell-1', log: quietLog });
  t.teardown(() => reopened.close());
  const again = new AuditLog(reopened);
  t.equal(again.overridesOf(d.id)[0]?.reason, 'crack seen by eye');
  t.equal(again.requests(10).length, 1);
});
