import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Agent } from '../../agent/app.js';
import { parseConfigText } from '../../agent/config/index.js';
import { REPO, tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { collect, startAedes, type TestBroker } from '../helpers/brokers.js';
import { quietLog } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/net.js';

const TOKEN = 'test-token-123';

async function startAgent(t: Test, broker: TestBroker, opts: { modelPath?: string } = {}) {
  const dir = tempDir();
  const config = parseConfigText(
    `agent: { id: api-test }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/api, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:0", token: ${TOKEN} }
models: [{ id: washer, path: ${opts.modelPath ?? WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${join(REPO, 'samples/washer')}, loop: true }, trigger: { type: mqtt }, model: washer, deadlineMs: 3000 }
`,
    'test',
    {},
  );
  const agent = new Agent(config, { log: quietLog });
  await agent.start();
  t.teardown(() => agent.stop());
  const base = `http://127.0.0.1:${agent.http.port}`;
  return { agent, base };
}

t.test('health endpoints, status, metrics and decisions over HTTP', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const { agent, base } = await startAgent(t, broker);
  await waitFor(() => agent.link.connected, 5_000, 'broker connection');

  t.same(await (await fetch(`${base}/healthz`)).json(), { status: 'ok' });
  const ready = await fetch(`${base}/readyz`);
  t.equal(ready.status, 200);

  const unauthorised = await fetch(`${base}/api/trigger`, {
    method: 'POST',
    body: '{"camera":"cam-1"}',
    headers: { 'content-type': 'application/json' },
  });
  t.equal(unauthorised.status, 401, 'no token, no trigger');
  t.match(await unauthorised.json(), { status: 'error', code: 'EVA_ERR_UNAUTHORISED' });
  const wrong = await fetch(`${base}/api/trigger`, {
    method: 'POST',
    body: '{"camera":"cam-1"}',
    headers: { 'content-type': 'application/json', authorization: 'Bearer nope' },
  });
  t.equal(wrong.status, 401, 'wrong token, no trigger');
  t.equal(agent.store.lastSeq(), 0, 'nothing happened');

  const res = await fetch(`${base}/api/trigger`, {
    method: 'POST',
    body: JSON.stringify({ camera: 'cam-1', partId: 'HTTP-1', transaction: 'h1' }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
  });
  const body = (await res.json()) as {
    status: string;
    data: { decisionId: string; seq: number; verdict: string };
    transaction: string;
  };
  t.equal(res.status, 200);
  t.equal(body.status, 'ok');
  t.equal(body.transaction, 'h1');
  t.equal(body.data.seq, 1);

  const one = (await (await fetch(`${base}/api/decisions/${body.data.decisionId}`)).json()) as {
    partId: string;
    verdict: string;
  };
  t.equal(one.partId, 'HTTP-1');
  t.equal(one.verdict, body.data.verdict);
  t.equal((await fetch(`${base}/api/decisions/nope`)).status, 404);
  const list = (await (await fetch(`${base}/api/decisions?camera=cam-1&limit=5`)).json()) as {
    decisions: unknown[];
  };
  t.equal(list.decisions.length, 1);
  t.equal((await fetch(`${base}/api/decisions?limit=0`)).status, 400);

  const status = (await (await fetch(`${base}/api/status`)).json()) as {
    agent: { id: string };
    cameras: { id: string }[];
    models: { provider: string }[];
    mqtt: { connected: boolean };
    store: { lastSeq: number };
    problems: unknown[];
  };
  t.equal(status.agent.id, 'api-test');
  t.equal(status.cameras[0]?.id, 'cam-1');
  t.equal(status.models[0]?.provider, 'cpu');
  t.equal(status.mqtt.connected, true);
  t.equal(status.store.lastSeq, 1);
  t.ok('system' in status && Array.isArray(status.problems));

  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, /eva_decisions_total\{camera="cam-1",verdict="\w+"\} 1/);
  t.match(metrics, /eva_inference_seconds_bucket/);
  // issue 12: the process metrics keep their standard names (no doubled eva_process_ prefix)
  t.match(metrics, /^nodejs_eventloop_lag_seconds /m);
  t.notMatch(metrics, /eva_process_/);
});

t.test('R/request/trigger with a partId gives a response and a decision carrying it', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const sub = await collect(broker.url, 't/api/#');
  t.teardown(() => sub.end());
  const { agent } = await startAgent(t, broker);
  await waitFor(() => agent.link.connected, 5_000, 'broker connection');

  await sub.client.publishAsync(
    't/api/request/trigger',
    JSON.stringify({ camera: 'cam-1', partId: 'A-77812', transaction: 42 }),
    { qos: 1 },
  );
  const response = await waitFor(
    () => sub.messages.find((m) => m.topic === 't/api/response/trigger'),
    10_000,
    'response',
  );
  const r = response.json() as { status: string; transaction: number; data: { decisionId: string } };
  t.equal(r.status, 'ok');
  t.equal(r.transaction, 42);
  const decision = await waitFor(
    () => sub.messages.find((m) => m.topic === 't/api/decisions/cam-1'),
    10_000,
    'decision',
  );
  const d = decision.json() as { partId: string; id: string; historical: boolean; model: { id: string } };
  t.equal(d.partId, 'A-77812');
  t.equal(d.id, r.data.decisionId);
  t.equal(d.historical, false);
  t.equal(d.model.id, 'washer');

  await sub.client.publishAsync('t/api/request/trigger', '{not json', { qos: 1 });
  await sub.client.publishAsync('t/api/request/trigger', JSON.stringify({ camera: 'cam-9' }), { qos: 1 });
  await sub.client.publishAsync('t/api/request/reboot', JSON.stringify({}), { qos: 1 });
  const errors = await waitFor(
    () => {
      const e = sub.messages.filter(
        (m) => m.topic.startsWith('t/api/response/') && m.json().status === 'error',
      );
      return e.length >= 3 ? e : undefined;
    },
    10_000,
    'three error responses',
  );
  const messages = errors.map((m) => String(m.json().error));
  t.match(messages.join('\n'), /malformed JSON/);
  t.match(messages.join('\n'), /unknown camera "cam-9"/);
  t.match(messages.join('\n'), /unknown request "reboot"/);
  t.same(
    errors.map((m) => m.json().code).sort(),
    ['EVA_ERR_CAMERA_UNKNOWN', 'EVA_ERR_REQUEST_MALFORMED', 'EVA_ERR_REQUEST_UNKNOWN'],
    'each error response carries the code of what was wrong',
  );
  t.equal(agent.store.lastSeq(), 1, 'the bad requests changed nothing');

  const online = sub.messages
    .filter((m) => m.topic === 't/api/status')
    .at(-1)
    ?.json();
  t.equal(online?.state, 'online');
  t.equal(online?.agentId, 'api-test');
});

t.test('a model that cannot load makes /readyz 503 with the reason, and a trigger gives ERROR', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const dir = tempDir();
  const { writeFileSync, copyFileSync } = await import('node:fs');
  copyFileSync(join(REPO, 'models/washer/manifest.yaml'), join(dir, 'manifest.yaml'));
  writeFileSync(join(dir, 'model.onnx'), 'corrupted on disk');
  const { agent, base } = await startAgent(t, broker, { modelPath: join(dir, 'model.onnx') });
  const ready = await fetch(`${base}/readyz`);
  t.equal(ready.status, 503);
  const body = (await ready.json()) as { status: string; reasons: string[] };
  t.equal(body.status, 'unready');
  t.match(body.reasons[0], /camera cam-1: model washer is failed/);
  const status = (await (await fetch(`${base}/api/status`)).json()) as {
    problems: { code: string; message: string }[];
  };
  t.match(status.problems.find((p) => p.code === 'MODEL_FAILED')?.message, /sha256/);
  const decision = await agent.cameras.get('cam-1')?.trigger('P-1');
  t.equal(decision?.verdict, 'ERROR');
  t.match(decision?.reason, /model washer is failed/);
  t.equal((await fetch(`${base}/healthz`)).status, 200, 'the process still serves');
});
