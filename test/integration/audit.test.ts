import t, { type Test } from 'tap';
import { Agent } from '../../agent/app.js';
import { parseConfigText } from '../../agent/config/index.js';
import type { Decision } from '../../agent/decision/index.js';
import { AuditLog, type LoggedRequest } from '../../agent/store/index.js';
import { tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { collect, startAedes, type TestBroker } from '../helpers/brokers.js';
import { draft, quietLog } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/net.js';

const TOKEN = 'audit-token';

/** The real agent (real store file, real model, real HTTP listener, real broker); decisions put in directly. */
async function startAgent(t: Test, broker: TestBroker) {
  const dir = tempDir();
  const config = parseConfigText(
    `agent: { id: audit-test }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/audit, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:0", token: ${TOKEN} }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: synthetic, width: 64, height: 64 }, trigger: { type: mqtt }, model: washer }
`,
    'test',
    {},
  );
  const agent = new Agent(config, { log: quietLog });
  await agent.start();
  t.teardown(() => agent.stop());
  await waitFor(() => agent.link.connected, 5_000, 'broker connection');
  const base = `http://127.0.0.1:${agent.http.port}`;
  const audit = new AuditLog(agent.store);
  const post = async (name: string, body: string, token = TOKEN) => {
    const res = await fetch(`${base}/api/${name}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    return { code: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const get = async (path: string) => {
    const res = await fetch(base + path);
    return { code: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return { agent, audit, post, get };
}

t.test('outcome and override over HTTP and MQTT, with the request log and the decision detail', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const sub = await collect(broker.url, 't/audit/response/#');
  t.teardown(() => sub.end());
  const { agent, audit, post, get } = await startAgent(t, broker);
  const d = agent.store.record(draft({ cameraId: 'cam-1', verdict: 'NG', partId: 'A-1' }));

  // HTTP
  const outcome = await post(
    'outcome',
    JSON.stringify({ decisionId: d.id, actual: 'OK', source: 'recheck', transaction: 1 }),
  );
  t.equal(outcome.code, 200);
  t.match(outcome.body, {
    status: 'ok',
    transaction: 1,
    data: { decisionId: d.id, actual: 'OK', source: 'recheck' },
  });
  const wrongToken = await post(
    'override',
    JSON.stringify({ decisionId: d.id, verdict: 'OK', user: 'x', reason: 'y' }),
    'nope',
  );
  t.equal(wrongToken.code, 401);
  t.equal(wrongToken.body.code, 'EVA_ERR_UNAUTHORISED');
  const wrongType = await post('outcome', JSON.stringify({ decisionId: d.id, actual: true }));
  t.equal(wrongType.code, 400);
  t.match(wrongType.body.error, /field "actual" must be one of "OK", "NG", got true/);
  t.equal(wrongType.body.code, 'EVA_ERR_REQUEST_INVALID');

  // MQTT
  const ask = async (name: string, payload: string) => {
    const before = sub.messages.length;
    await sub.client.publishAsync(`t/audit/request/${name}`, payload, { qos: 1 });
    const m = await waitFor(
      () => sub.messages.slice(before).find((x) => x.topic === `t/audit/response/${name}`),
      5_000,
      `response to ${name}`,
    );
    return m.json();
  };
  const override = await ask(
    'override',
    JSON.stringify({ decisionId: d.id, verdict: 'OK', user: 'anna', reason: 'cosmetic', transaction: 'o1' }),
  );
  t.match(override, {
    status: 'ok',
    transaction: 'o1',
    data: { verdict: 'OK', user: 'anna', duplicate: false },
  });
  const repeat = await ask(
    'override',
    JSON.stringify({ decisionId: d.id, verdict: 'OK', user: 'anna', reason: 'cosmetic' }),
  );
  t.match(repeat, { status: 'ok', data: { duplicate: true } }, 'a redelivered override is not stored twice');
  t.match(await ask('outcome', '{"decisionId":'), { status: 'error', error: /^malformed JSON/ });
  t.match(await ask('outcome', JSON.stringify({ decisionId: 'nope', actual: 'NG' })), {
    status: 'error',
    error: 'unknown decision "nope": nothing recorded',
  });
  t.match(await ask('outcome', JSON.stringify({ actual: 'NG' })), {
    status: 'error',
    error: /missing field "decisionId"/,
  });
  t.match(await ask('outcome', JSON.stringify({ decisionId: 7, actual: 'NG' })), {
    status: 'error',
    error: /field "decisionId" must be a string, got a number 7/,
  });
  t.match(await ask('teleport', '{}'), { status: 'error', error: /unknown request "teleport"/ });
  t.same(
    sub.messages
      .filter((m) => m.topic.startsWith('t/audit/response/') && m.json().status === 'error')
      .map((m) => m.json().code),
    [
      'EVA_ERR_REQUEST_MALFORMED',
      'EVA_ERR_DECISION_UNKNOWN',
      'EVA_ERR_REQUEST_INVALID',
      'EVA_ERR_REQUEST_INVALID',
      'EVA_ERR_REQUEST_UNKNOWN',
    ],
    'each error response over MQTT carries its code',
  );

  const detail = await get(`/api/decisions/${d.id}`);
  t.equal(detail.code, 200);
  t.match(detail.body, { id: d.id, seq: d.seq, verdict: 'NG', partId: 'A-1' }, 'the decision as published');
  t.match(
    detail.body.outcomes,
    [{ actual: 'OK', source: 'recheck' }],
    'one outcome: the bad ones wrote nothing',
  );
  t.match(detail.body.overrides, [{ verdict: 'OK', user: 'anna', reason: 'cosmetic' }]);
  t.equal((detail.body.overrides as unknown[]).length, 1);
  t.same((await get(`/api/decisions/${d.seq}`)).body, detail.body, 'by seq too');
  t.equal((await get('/api/decisions/no-such')).code, 404);

  const fromHttp = (await get('/api/requests?limit=50')).body.requests as LoggedRequest[];
  t.same(fromHttp, audit.requests(50), 'GET /api/requests reads the same log');
  const log = fromHttp.reverse();
  t.same(
    log.map((r) => [r.via, r.name, r.status]),
    [
      ['http', 'outcome', 'ok'],
      ['http', 'override', 'error'],
      ['http', 'outcome', 'error'],
      ['mqtt', 'override', 'ok'],
      ['mqtt', 'override', 'ok'],
      ['mqtt', 'outcome', 'error'],
      ['mqtt', 'outcome', 'error'],
      ['mqtt', 'outcome', 'error'],
      ['mqtt', 'outcome', 'error'],
      ['mqtt', 'teleport', 'error'],
    ],
    'every request received is logged, in order',
  );
  t.match(log[1], { error: 'missing or wrong bearer token' });
  t.equal(log[1]?.body, null, 'a refused request is logged without its body');
  t.match(log[5], { body: '{"decisionId":', error: /malformed JSON/ });
  t.equal(agent.store.lastSeq(), 1, 'no request made or changed a decision');
});

t.test('the audit query over HTTP: filters, validation and paging to the end', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const { agent, get } = await startAgent(t, broker);
  const t0 = 1_763_890_000_000;
  for (let i = 0; i < 25; i++) {
    agent.store.record(
      draft({
        cameraId: i % 2 ? 'cam-1' : 'cam-2',
        verdict: i % 5 === 0 ? 'NG' : 'OK',
        partId: `P-${i}`,
        decidedAt: t0 + i * 1000,
      }),
    );
  }
  const seqs = (body: Record<string, unknown>) => (body.decisions as Decision[]).map((d) => d.seq);
  t.same(seqs((await get('/api/decisions?verdict=NG')).body), [21, 16, 11, 6, 1]);
  t.same(seqs((await get('/api/decisions?camera=cam-1&verdict=NG')).body), [16, 6]);
  t.same(seqs((await get('/api/decisions?partId=P-7')).body), [8]);
  t.same(seqs((await get(`/api/decisions?from=${t0 + 20_000}&to=${t0 + 22_000}`)).body), [23, 22, 21]);
  t.same(seqs((await get(`/api/decisions?camera=cam-2&from=${t0 + 20_000}`)).body), [25, 23, 21]);

  const seen: number[] = [];
  let next: string | null = '/api/decisions?camera=cam-1&limit=4';
  let pages = 0;
  while (next) {
    const page: { body: Record<string, unknown> } = await get(next);
    seen.push(...seqs(page.body));
    next = page.body.next as string | null;
    pages++;
  }
  t.same(seen, [24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2], 'every cam-1 decision once, newest first');
  t.equal(pages, 3);

  for (const [query, message] of [
    ['verdict=BAD', /verdict must be one of/],
    ['from=monday', /from must be a time in epoch milliseconds/],
    ['to=1e3', /to must be a time in epoch milliseconds/],
    ['limit=5000', /limit must be an integer from 1 to 1000/],
    ['cam=cam-1', /unknown filter "cam"/],
  ] as const) {
    const res = await get(`/api/decisions?${query}`);
    t.equal(res.code, 400, query);
    t.match(res.body, { status: 'error', error: message });
  }
});
