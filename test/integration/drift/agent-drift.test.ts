import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { Agent } from '../../../agent/app.js';
import { parseConfigText } from '../../../agent/config/index.js';
import { REPO, tempDir, WASHER_MODEL } from '../../helpers/agent-process.js';
import { collect, startAedes } from '../../helpers/brokers.js';
import { quietLog } from '../../helpers/fixtures.js';
import { validate } from '../../helpers/json-schema.js';
import { waitFor } from '../../helpers/net.js';

const TOKEN = 'drift-token';
const schema = JSON.parse(readFileSync(join(REPO, 'docs/drift-report.schema.json'), 'utf8'));

t.test(
  'drift/baseline over MQTT builds a live baseline; reports go out retained; /api/drift, /api/status and /metrics show it',
  async (t) => {
    const broker = await startAedes();
    t.teardown(() => broker.stop());
    const dir = tempDir();
    const config = parseConfigText(
      `agent: { id: drift-api }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/drift, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:0", token: ${TOKEN} }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${join(REPO, 'samples/washer')}, loop: true, pollMs: 20 }, trigger: { type: interval, fps: 40 }, model: washer, deadlineMs: 3000 }
drift: { window: 20, minDecisions: 10 }
`,
      'test',
      {},
    );
    const agent = new Agent(config, { log: quietLog });
    await agent.start();
    t.teardown(() => agent.stop());
    const base = `http://127.0.0.1:${agent.http.port}`;
    await waitFor(() => agent.link.connected, 5_000, 'broker connection');

    // before a baseline: windows are reported as no-baseline, and status lists the problem
    const early = await waitFor(
      async () => {
        const body = (await (await fetch(`${base}/api/drift`)).json()) as {
          cameras: { latest: { status: string } | null }[];
        };
        return body.cameras[0]?.latest ? body : undefined;
      },
      20_000,
      'a first window report',
    );
    t.equal(early.cameras[0]?.latest?.status, 'no-baseline');
    const status = (await (await fetch(`${base}/api/status`)).json()) as {
      drift: { cameras: { status: string }[] };
      problems: { code: string }[];
    };
    t.equal(status.drift.cameras[0]?.status, 'no-baseline');
    t.ok(
      status.problems.some((p) => p.code === 'DRIFT_NO_BASELINE'),
      'a camera without a baseline is a problem',
    );

    const responses = await collect(broker.url, 't/drift/response/#');
    t.teardown(() => responses.end());
    const client = await mqtt.connectAsync(broker.url);
    t.teardown(() => client.endAsync());
    await client.publishAsync(
      't/drift/request/drift/baseline',
      JSON.stringify({ camera: 'cam-1', decisions: 40, transaction: 'b1' }),
      { qos: 1 },
    );
    const answer = await waitFor(
      () => responses.messages.find((m) => m.topic === 't/drift/response/drift/baseline'),
      5_000,
      'the response',
    );
    t.match(answer.json(), {
      status: 'ok',
      transaction: 'b1',
      data: { camera: 'cam-1', decisions: 40, status: 'collecting' },
    });

    const built = await waitFor(
      async () => {
        const body = (await (await fetch(`${base}/api/drift?camera=cam-1&limit=5`)).json()) as {
          cameras: {
            baseline: { source: string; frames: number } | null;
            history: unknown[];
            latest: Record<string, unknown> | null;
          }[];
        };
        const c = body.cameras[0];
        return c?.baseline && (c.latest as { baseline?: unknown })?.baseline ? c : undefined;
      },
      30_000,
      'a report against the live baseline',
    );
    t.match(built.baseline, { source: 'live', frames: 40 });
    t.ok(built.history.length <= 5, 'history bounded by limit');
    t.same(validate(schema, built.latest), [], 'the report fits the published schema');

    // a subscriber that comes later still gets the latest report: the topic is retained
    const late = await collect(broker.url, 't/drift/drift/cam-1');
    t.teardown(() => late.end());
    const retained = await waitFor(() => late.messages.find((m) => m.retain), 5_000, 'the retained report');
    t.equal(retained.json().cameraId, 'cam-1');
    t.same(validate(schema, retained.json()), []);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    t.match(metrics, /eva_drift_status\{camera="cam-1"\} (0|1|2|-1)/);
    t.match(metrics, /eva_drift_value\{camera="cam-1",statistic="brightness"\}/);

    // the same request over HTTP: refused without the token, refused for an unknown camera or a tiny baseline
    const post = (body: unknown, token?: string) =>
      fetch(`${base}/api/drift/baseline`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      });
    t.equal((await post({ camera: 'cam-1' })).status, 401);
    const unknown = await post({ camera: 'cam-9' }, TOKEN);
    t.equal(unknown.status, 400);
    t.match(await unknown.json(), { code: 'EVA_ERR_CAMERA_UNKNOWN' });
    const tiny = await post({ camera: 'cam-1', decisions: 5 }, TOKEN);
    t.equal(tiny.status, 400);
    t.match(await tiny.json(), { code: 'EVA_ERR_REQUEST_INVALID', error: /decisions/ });
    const ok = await post({ camera: 'cam-1' }, TOKEN);
    t.match(
      await ok.json(),
      { status: 'ok', data: { decisions: 2000, status: 'collecting' } },
      'drift.baselineDecisions by default',
    );

    const bad = await fetch(`${base}/api/drift?camera=cam-9`);
    t.equal(bad.status, 400);
    t.match(await bad.json(), { code: 'EVA_ERR_CAMERA_UNKNOWN' });
    const typo = await fetch(`${base}/api/drift?cam=cam-1&limit=0`);
    t.equal(typo.status, 400);
    t.match(await typo.json(), {
      code: 'EVA_ERR_QUERY_INVALID',
      error: /unknown parameter "cam".*limit must be/,
    });
  },
);

t.test('without a drift section: /api/drift says so, drift/baseline is refused with its code', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const dir = tempDir();
  const config = parseConfigText(
    `agent: { id: no-drift }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", reconnectMinMs: 100 }
health: { listen: "127.0.0.1:0", token: ${TOKEN} }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${join(REPO, 'samples/washer')} }, trigger: { type: mqtt }, model: washer }
`,
    'test',
    {},
  );
  const agent = new Agent(config, { log: quietLog });
  await agent.start();
  t.teardown(() => agent.stop());
  const base = `http://127.0.0.1:${agent.http.port}`;
  t.same(await (await fetch(`${base}/api/drift`)).json(), { enabled: false, cameras: [] });
  const res = await fetch(`${base}/api/drift/baseline`, {
    method: 'POST',
    body: '{"camera":"cam-1"}',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  t.equal(res.status, 409);
  t.match(await res.json(), { status: 'error', code: 'EVA_ERR_DRIFT_NOT_CONFIGURED' });
  const status = (await (await fetch(`${base}/api/status`)).json()) as { drift: unknown };
  t.equal(status.drift, null);
});
