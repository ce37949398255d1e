import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { agentHttp } from '../helpers/agent-http.js';
import { spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { runMosquitto, type TestBroker } from '../helpers/brokers.js';
import { freePort, waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';
import { deliveryProblems, integrityCheck, recordFigures, scaled, storedDecisions } from './chaos-lib.js';

// Scenario 7 (docs/reliability.md): three agents with different ids on one mosquitto through broker
// restarts: each one's decisions arrive complete (seq 1..last, no gap), under its own topics and agentId,
// and no id is shared between agents.
const RESTARTS = scaled(1, 5);
const IDS = ['cell-a', 'cell-b', 'cell-c'];

t.test(`three agents on one broker through ${RESTARTS} broker restart(s)`, async (t) => {
  if (!requireTool(t, 'mosquitto', 'the agents share a real broker')) return;
  // the broker keeps sessions across its restarts (persistence), and the test's subscriber has a persistent
  // session: what the agents publish before the subscriber is back is queued for it, as for a plant's MES.
  // Without it, decisions delivered (PUBACKed) while the subscriber reconnects would be missing here
  // though the agents did their part.
  const port = await freePort();
  const brokerDir = mkdtempSync(join(tmpdir(), 'eva-mosq-fleet-'));
  const conf = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${brokerDir}/`,
    'max_queued_messages 0',
    'user root',
  ];
  const url = `mqtt://127.0.0.1:${port}`;
  const start = () => runMosquitto(brokerDir, conf, { port, url, ready: () => canConnect(url) });
  let broker: TestBroker = await start();
  t.teardown(() => broker.stop());
  const messages: { topic: string; json: () => Record<string, unknown> }[] = [];
  const client = await mqtt.connectAsync(url, {
    clientId: `chaos-fleet-${process.pid}`,
    clean: false,
    reconnectPeriod: 200,
  });
  t.teardown(() => client.endAsync());
  client.on('message', (topic, payload) => {
    const text = payload.toString();
    messages.push({ topic, json: () => JSON.parse(text) });
  });
  await client.subscribeAsync('t/fleet/+/decisions/#', { qos: 1 });
  const sub = { messages };
  const agents = await Promise.all(
    IDS.map(async (id) => {
      const dir = tempDir(`eva-chaos-${id}-`);
      const httpPort = await freePort();
      const config = writeConfig(
        dir,
        `agent: { id: ${id} }
store: { path: ${dir}/agent.db }
mqtt: { url: "${url}", topicRoot: t/fleet/${id}, reconnectMinMs: 100, reconnectMaxMs: 500 }
health: { listen: "127.0.0.1:${httpPort}" }
models: [{ id: washer, path: ${WASHER_MODEL}, intraOpThreads: 1 }]
cameras:
  - { id: cam-1, source: { type: synthetic, width: 160, height: 120, fps: 30 }, trigger: { type: interval, fps: 5 }, model: washer, deadlineMs: 3000 }
`,
      );
      const proc = spawnAgent(['run', '-c', config], { env: { LOG_LEVEL: 'warn' } });
      t.teardown(() => proc.stop('SIGKILL'));
      return { id, dir, proc, http: agentHttp(httpPort) };
    }),
  );
  const allSeqAtLeast = (n: number) =>
    waitFor(
      async () => {
        const s = await Promise.all(agents.map((a) => a.http.status()));
        return s.every((x) => (x?.store.lastSeq ?? 0) >= n) ? s : undefined;
      },
      90_000,
      `every agent at seq ${n}`,
    );
  await allSeqAtLeast(5);
  for (let r = 1; r <= RESTARTS; r++) {
    await broker.stop();
    const s = await Promise.all(agents.map((a) => a.http.status()));
    const floor = Math.max(...s.map((x) => x?.store.lastSeq ?? 0));
    await allSeqAtLeast(floor + 5); // decisions made while the broker is down
    broker = await start();
  }
  await waitFor(
    async () => (await Promise.all(agents.map((a) => a.http.status()))).every((x) => x?.store.backlog === 0),
    120_000,
    'every backlog delivered',
  );
  for (const a of agents) t.equal(await a.proc.stop('SIGTERM'), 0, `${a.id} stops cleanly`);
  const expected = agents.length; // wait until the subscriber's queue is drained: the last seq of each agent
  await waitFor(
    () =>
      agents.every((a) => {
        const last = storedDecisions(`${a.dir}/agent.db`).at(-1)?.seq ?? 0;
        return messages.some((m) => m.topic.startsWith(`t/fleet/${a.id}/`) && m.json().seq === last);
      }) || undefined,
    30_000,
    `the last decision of each of ${expected} agents received`,
  ).catch(() => undefined);

  const seenIds = new Map<string, string>();
  let checked = 0;
  let lost = 0;
  for (const a of agents) {
    t.equal(integrityCheck(`${a.dir}/agent.db`), 'ok', `${a.id}: integrity_check ok`);
    const last = storedDecisions(`${a.dir}/agent.db`).at(-1)?.seq ?? 0;
    const mine = sub.messages
      .filter((m) => m.topic.startsWith(`t/fleet/${a.id}/`))
      .map((m) => m.json() as { seq: number; id: string; agentId: string });
    t.ok(
      mine.every((d) => d.agentId === a.id),
      `${a.id}: every decision on its topics carries its agentId`,
    );
    const problems = deliveryProblems(mine, last);
    t.same(problems.missing, [], `${a.id}: every seq 1..${last} arrived`);
    t.same(problems.conflicting, [], `${a.id}: one id per seq`);
    for (const d of mine) {
      const owner = seenIds.get(d.id);
      if (owner && owner !== a.id) t.fail(`decision id ${d.id} published by ${owner} and ${a.id}`);
      seenIds.set(d.id, a.id);
    }
    checked += last;
    lost += problems.missing.length;
  }
  recordFigures(t, '7-fleet', {
    faults: { brokerRestarts: RESTARTS },
    agents: IDS.length,
    decisionsChecked: checked,
    lost,
  });
});

function canConnect(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 1000 });
    c.once('connect', () => {
      c.end(true);
      resolve(true);
    });
    c.once('error', () => {
      c.end(true);
      resolve(false);
    });
    c.once('close', () => resolve(false));
  });
}
