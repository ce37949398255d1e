import { renameSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Agent } from '../../../agent/app.js';
import { parseConfigText } from '../../../agent/config/index.js';
import { REPO, tempDir, WASHER_MODEL } from '../../helpers/agent-process.js';
import { collect, startAedes } from '../../helpers/brokers.js';
import { quietLog } from '../../helpers/fixtures.js';
import { washerVersion } from '../../helpers/model-versions.js';
import { waitFor } from '../../helpers/net.js';

const TOKEN = 'deploy-token';

t.test('the agent: inbox install, shadow unpublished, promote over HTTP, rollback over MQTT', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const dir = tempDir();
  const inbox = join(dir, 'inbox');
  const config = parseConfigText(
    `agent: { id: deploy-test }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/dep, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:0", token: ${TOKEN} }
models: [{ id: washer, path: ${WASHER_MODEL}, inbox: ${inbox}, inboxPollMs: 200, intraOpThreads: 1 }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${join(REPO, 'samples/washer')}, loop: true }, trigger: { type: mqtt }, model: washer, deadlineMs: 5000 }
`,
    'test',
    {},
  );
  const agent = new Agent(config, { log: quietLog });
  await agent.start();
  t.teardown(() => agent.stop());
  await waitFor(() => agent.link.connected, 5_000, 'broker connection');
  const sub = await collect(broker.url, 't/dep/#');
  t.teardown(() => sub.end());
  const base = `http://127.0.0.1:${agent.http.port}`;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}/api/${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    });
    return (await res.json()) as { status: string; data: Record<string, unknown>; error?: string };
  };
  const status = () => agent.status().models[0];
  const triggerVersion = async (partId: string) => {
    const r = await post('trigger', { camera: 'cam-1', partId });
    t.equal(r.status, 'ok', r.error ?? '');
    const d = agent.store.getById(r.data.decisionId as string);
    return d?.model?.version;
  };

  renameSync(washerVersion('2'), join(inbox, 'washer-2'));
  await waitFor(() => status()?.shadow?.state === 'ready', 20_000, 'version 2 in shadow');
  t.equal(status()?.version, '1');

  for (const part of ['P1', 'P2', 'P3']) {
    t.equal(await triggerVersion(part), '1', `${part} judged by the active version`);
    await waitFor(
      () => (status()?.shadow?.frames ?? 0) + (status()?.shadow?.skipped ?? 0) >= 1,
      10_000,
      'shadow',
    );
  }
  await waitFor(
    () => sub.messages.filter((m) => m.topic === 't/dep/decisions/cam-1').length >= 3,
    5_000,
    'published',
  );
  const published = sub.messages.filter((m) => m.topic.startsWith('t/dep/decisions/'));
  t.equal(published.length, 3, 'three decisions published, nothing for the shadow');
  t.same(
    published.map((m) => (m.json() as { model: { version: string } }).model.version),
    ['1', '1', '1'],
  );

  const promoted = await post('model/promote', { model: 'washer', version: '2' });
  t.equal(promoted.status, 'ok', promoted.error ?? '');
  t.match(promoted.data, { version: '2', previous: '1', shadow: { version: '2' } });
  t.equal(await triggerVersion('P4'), '2', 'decisions after the promotion carry the new version');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, /eva_model_active_info\{model="washer",version="2",provider="cpu"\} 1/);
  t.notMatch(metrics, /eva_model_active_info\{model="washer",version="1"/, 'one series: the active version');
  t.match(metrics, /eva_model_swaps_total\{model="washer",why="promote"\} 1/);

  sub.client.publish('t/dep/request/model/rollback', JSON.stringify({ model: 'washer', transaction: 'rb1' }));
  const response = await waitFor(
    () => sub.messages.find((m) => m.topic === 't/dep/response/model/rollback'),
    20_000,
    'rollback response',
  );
  t.match(response.json(), { status: 'ok', transaction: 'rb1', data: { version: '1', previous: '2' } });
  t.equal(await triggerVersion('P5'), '1');

  const unknown = await post('model/promote', { model: 'bolt', version: '2' });
  t.match(unknown, { status: 'error', error: /unknown model "bolt"/ });
});
