import t from 'tap';
import { parseAuditQuery } from '../../../agent/http/audit-routes.js';
import { buildHttpApp } from '../../../agent/http/index.js';
import { AgentMetrics } from '../../../agent/metrics.js';
import { AuditLog, AuditQuery } from '../../../agent/store/index.js';
import { auditRequestHandlers, type RequestHandlers, RequestRouter } from '../../../agent/sync/index.js';
import { MAX_LOGGED_ERRORS_PER_MINUTE } from '../../../agent/sync/request-log-limit.js';
import { draft, quietLog, tempStore } from '../../helpers/fixtures.js';

const TOKEN = 'tok-1';

function app(opts: { now?: () => number; metrics?: AgentMetrics } = {}) {
  const { store } = tempStore();
  const audit = new AuditLog(store);
  const query = new AuditQuery(store, audit);
  const notHere = async () => {
    throw new Error('not in this test');
  };
  const router = new RequestRouter(
    {
      trigger: notHere,
      'camera/enable': notHere,
      'model/promote': notHere,
      'model/rollback': notHere,
      'model/delete': notHere,
      'drift/baseline': notHere,
      'recipe/select': notHere,
      ...auditRequestHandlers(audit),
    } as RequestHandlers,
    quietLog,
    {
      journal: audit,
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.metrics ? { onUnlogged: () => opts.metrics?.requestsUnlogged.inc({ via: 'http' }) } : {}),
    },
  );
  const http = buildHttpApp({
    status: () => ({}),
    readiness: () => ({ ready: true, reasons: [] }),
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    decisions: {
      list: (f) => query.page(f),
      get: (id) => query.detail(id),
      requests: (limit, before) => audit.requests(limit, before),
    },
    request: (name, body) => router.handleText(name, body, 'http'),
    refused: (name, body, error) => router.refuse(name, body, 'http', error),
    token: TOKEN,
  });
  return { store, audit, http };
}

t.test('query values are checked, all problems in one 400', async (t) => {
  t.same(parseAuditQuery({}), {
    filter: {
      camera: undefined,
      verdict: undefined,
      partId: undefined,
      from: undefined,
      to: undefined,
      before: undefined,
      limit: 100,
    },
  });
  t.match(parseAuditQuery({ verdict: 'ng', limit: '5', from: '10', to: '20', before: '7' }), {
    filter: { verdict: 'NG', limit: 5, from: 10, to: 20, before: 7 },
  });
  const bad = (q: Record<string, unknown>) => {
    const r = parseAuditQuery(q);
    return 'errors' in r ? r.errors.join('; ') : 'accepted';
  };
  t.match(bad({ verdict: 'MAYBE' }), /verdict must be one of OK, NG, UNCERTAIN, ERROR, got "MAYBE"/);
  t.match(bad({ from: 'yesterday' }), /from must be a time in epoch milliseconds/);
  t.match(bad({ to: '1.5' }), /to must be a time in epoch milliseconds/);
  t.match(bad({ from: '20', to: '10' }), /from \(20\) is after to \(10\)/);
  t.match(bad({ limit: '0' }), /limit must be an integer from 1 to 1000, got "0"/);
  t.match(bad({ limit: '1001' }), /limit must be an integer from 1 to 1000/);
  t.match(bad({ limit: 'ten' }), /limit/);
  t.match(bad({ before: '-3' }), /before must be a decision seq/);
  t.match(bad({ camra: 'cam-1' }), /unknown filter "camra"; known: camera, verdict/);
  t.match(bad({ camera: ['a', 'b'] }), /camera given more than once/);
  t.match(bad({ partId: '' }), /partId is empty/);
  const several = bad({ verdict: 'x', limit: '0' });
  t.match(several, /verdict.*; limit/, 'every problem at once');
});

t.test('GET /api/decisions pages with nextBefore and a ready next link', async (t) => {
  const { store, http } = app();
  t.teardown(() => store.close());
  for (let i = 0; i < 5; i++) store.record(draft({ cameraId: 'cam-1', verdict: 'NG', decidedAt: 100 + i }));
  store.record(draft({ cameraId: 'cam-2', verdict: 'NG', decidedAt: 200 }));
  const first = await http.inject('/api/decisions?camera=cam-1&verdict=NG&limit=2');
  t.equal(first.statusCode, 200);
  const body = first.json() as { decisions: { seq: number }[]; nextBefore: number; next: string };
  t.same(
    body.decisions.map((d) => d.seq),
    [5, 4],
  );
  t.equal(body.nextBefore, 4);
  t.equal(body.next, '/api/decisions?camera=cam-1&verdict=NG&limit=2&before=4');
  const second = (await http.inject(body.next)).json() as { decisions: { seq: number }[]; next: string };
  t.same(
    second.decisions.map((d) => d.seq),
    [3, 2],
  );
  const last = (await http.inject(second.next)).json() as { decisions: { seq: number }[]; next: null };
  t.same(
    last.decisions.map((d) => d.seq),
    [1],
  );
  t.equal(last.next, null);
  const bad = await http.inject('/api/decisions?verdict=GOOD&from=abc');
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { status: 'error', error: /verdict must be one of.*; from must be a time/ });
});

t.test('POST /api/outcome over HTTP: written, logged; refused and malformed calls logged too', async (t) => {
  const { store, audit, http } = app();
  t.teardown(() => store.close());
  const d = store.record(draft());
  const post = (name: string, payload: string, auth = true, type = 'application/json') =>
    http.inject({
      method: 'POST',
      url: `/api/${name}`,
      payload,
      headers: { 'content-type': type, ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}) },
    });
  const ok = await post('outcome', JSON.stringify({ decisionId: d.id, actual: 'NG', transaction: 'm1' }));
  t.equal(ok.statusCode, 200);
  t.match(ok.json(), {
    status: 'ok',
    transaction: 'm1',
    data: { decisionId: d.id, actual: 'NG', duplicate: false },
  });
  const noToken = await post('outcome', JSON.stringify({ decisionId: d.id, actual: 'OK' }), false);
  t.equal(noToken.statusCode, 401);
  t.same(noToken.json(), {
    status: 'error',
    code: 'EVA_ERR_UNAUTHORISED',
    error: 'missing or wrong bearer token',
  });
  const malformed = await post('outcome', '{"decisionId": ');
  t.equal(malformed.statusCode, 400);
  t.match(malformed.json(), { status: 'error', error: /^malformed JSON/ });
  const plainText = await post('override', 'verdict=OK', true, 'text/plain');
  t.match(
    plainText.json(),
    { status: 'error', error: /^malformed JSON/ },
    'any content type is read as JSON',
  );
  const unknownDecision = await post(
    'override',
    JSON.stringify({ decisionId: 'x', verdict: 'OK', user: 'a', reason: 'b' }),
  );
  t.match(unknownDecision.json(), { status: 'error', error: 'unknown decision "x": nothing recorded' });
  t.equal(audit.outcomesOf(d.id).length, 1, 'only the good outcome was written');
  t.same(
    audit.requests(10).map((r) => [r.name, r.status, r.via]),
    [
      ['override', 'error', 'http'],
      ['override', 'error', 'http'],
      ['outcome', 'error', 'http'],
      ['outcome', 'error', 'http'],
      ['outcome', 'ok', 'http'],
    ],
  );
  t.match(audit.requests(10)[2], { body: '{"decisionId": ', error: /malformed JSON/ });
  t.same(
    audit.requests(10)[3],
    {
      id: 2,
      receivedAt: audit.requests(10)[3]?.receivedAt,
      via: 'http',
      name: 'outcome',
      body: null,
      status: 'error',
      error: 'missing or wrong bearer token',
    },
    'a refused request is logged without its body',
  );
});

t.test(
  'a flood of refused requests: answered 401, logged up to the per-minute limit, the rest counted',
  async (t) => {
    let now = 1_700_000_000_000;
    const metrics = new AgentMetrics(false);
    const { store, audit, http } = app({ now: () => now, metrics });
    t.teardown(() => store.close());
    const refused = () =>
      http.inject({ method: 'POST', url: '/api/trigger', payload: `{"camera":"${'x'.repeat(4000)}"}` });
    for (let i = 0; i < MAX_LOGGED_ERRORS_PER_MINUTE + 10; i++) t.equal((await refused()).statusCode, 401);
    const logged = audit.requests(1000);
    t.equal(logged.length, MAX_LOGGED_ERRORS_PER_MINUTE);
    t.ok(
      logged.every((r) => r.body === null),
      'no refused body is stored',
    );
    t.match(
      await metrics.registry.getSingleMetricAsString('eva_requests_unlogged_total'),
      /eva_requests_unlogged_total\{via="http"\} 10/,
    );
    now += 60_000;
    await refused();
    t.equal(audit.requests(1000).length, MAX_LOGGED_ERRORS_PER_MINUTE + 1, 'a new minute logs again');
  },
);

t.test('GET /api/requests reads the request log back, newest first, paged', async (t) => {
  const { store, audit, http } = app();
  t.teardown(() => store.close());
  for (let i = 0; i < 5; i++) {
    audit.logRequest({
      receivedAt: i,
      via: 'mqtt',
      name: `r${i}`,
      body: '{}',
      status: i % 2 ? 'ok' : 'error',
      error: i % 2 ? undefined : 'bad',
    });
  }
  const first = (await http.inject('/api/requests?limit=3')).json() as {
    requests: { id: number; name: string; error?: string }[];
    next: string;
  };
  t.same(
    first.requests.map((r) => r.name),
    ['r4', 'r3', 'r2'],
  );
  t.equal(first.requests[0]?.error, 'bad');
  t.equal(first.next, '/api/requests?limit=3&before=3');
  const second = (await http.inject(first.next)).json() as { requests: { name: string }[]; next: null };
  t.same(
    second.requests.map((r) => r.name),
    ['r1', 'r0'],
  );
  t.equal(second.next, null);
  const bad = await http.inject('/api/requests?limit=0&name=x');
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), {
    error: /unknown parameter "name"; known: limit, before; limit must be an integer from 1 to 1000/,
  });
});
