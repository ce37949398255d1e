import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Agent } from '../../../agent/app.js';
import { parseConfigText } from '../../../agent/config/index.js';
import { REPO, tempDir, WASHER_MODEL } from '../../helpers/agent-process.js';
import { startAedes } from '../../helpers/brokers.js';
import { quietLog } from '../../helpers/fixtures.js';
import { slowWasherVersion } from '../../helpers/model-versions.js';
import { waitFor } from '../../helpers/net.js';

const TOKEN = 'rollout-token';

// The slow candidate the plant saw: ~150-300 ms a frame where the washer takes a few, on a camera that
// triggers every 100 ms. It never fails and never misses its 10 s deadline: it only loses parts, which the
// camera counts as skipped triggers. The agent runs whole here: camera, inspector, store, requests, HTTP.

t.test(
  'a slow candidate is rolled back on throughput; installs and promotions are in the request log',
  async (t) => {
    const broker = await startAedes();
    t.teardown(() => broker.stop());
    const dir = tempDir();
    const config = parseConfigText(
      `agent: { id: rollout-test }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/ro, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:0", token: ${TOKEN} }
models:
  - id: washer
    path: ${WASHER_MODEL}
    intraOpThreads: 1
    autoRollback: { minFrames: 10, maxSkipRateIncrease: 0.2, windowMs: 600000 }
cameras:
  - id: cam-1
    source: { type: folder, path: ${join(REPO, 'samples/washer')}, loop: true }
    trigger: { type: interval, fps: 10 }
    model: washer
    deadlineMs: 10000
`,
      'test',
      {},
    );
    const agent = new Agent(config, { log: quietLog });
    t.teardown(() => agent.stop());
    await agent.start();
    const base = `http://127.0.0.1:${agent.http.port}`;
    const model = () => agent.status().models[0];
    // the baseline: the washer's own frames, with next to no skipped triggers
    await waitFor(() => agent.store.lastSeq() >= 30, 30_000, '30 decisions on version 1');

    const version = slowWasherVersion('2');
    const upload = (token?: string) => {
      const form = new FormData();
      form.set('model', 'washer');
      for (const name of ['model.onnx', 'manifest.yaml']) {
        form.set(name, new Blob([readFileSync(join(version, name))]), name);
      }
      return fetch(`${base}/api/model/install`, {
        method: 'POST',
        body: form,
        ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
      });
    };
    t.equal((await upload('wrong')).status, 401, 'an upload without the token is refused');
    const installed = await upload(TOKEN);
    t.equal(installed.status, 200, await installed.clone().text());

    const promote = async (body: Record<string, unknown>) => {
      const res = await fetch(`${base}/api/model/promote`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      });
      return (await res.json()) as { status: string; data?: Record<string, unknown>; error?: string };
    };
    const forced = await promote({ model: 'washer', version: '2', force: true });
    t.equal(forced.status, 'ok', forced.error ?? '');
    await waitFor(() => model()?.version === '1', 60_000, 'the automatic rollback');
    const alert = agent.status().alerts.find((a) => a.code === 'MODEL_AUTO_ROLLBACK');
    t.match(alert, {
      severity: 'critical',
      message:
        /version 2 rolled back to 1: throughput: \d+\.\d% of triggers skipped \(camera still busy\) since promotion vs \d+\.\d% before/,
    });
    t.match(agent.status().problems, [{ code: 'MODEL_AUTO_ROLLBACK', modelId: 'washer' }]);
    t.ok(model()?.rejected['2'], 'the slow version is rejected');

    const log = (await (await fetch(`${base}/api/requests?limit=20`)).json()) as {
      requests: { name: string; via: string; status: string; body: string | null; error?: string }[];
    };
    const names = log.requests.map((r) => `${r.name} ${r.status}`).reverse();
    t.same(
      names,
      ['model/install error', 'model/install ok', 'model/promote ok'],
      'every change, and the 401',
    );
    t.match(
      log.requests.at(-1),
      { via: 'http', body: null, error: /bearer token/ },
      'the refusal, without its body',
    );
    t.match(log.requests.at(-2), { via: 'http', body: /"model":"washer".*"model.onnx"/ });
    t.match(log.requests[0], { via: 'http', body: /"force":true/ });
    t.match(
      model()?.history.map((h) => h.action),
      ['install', 'promote', 'auto-rollback'],
    );
  },
);
