import BetterSqlite3 from 'better-sqlite3';
import t from 'tap';
import { agentHttp } from '../helpers/agent-http.js';
import { SAMPLES, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { collect, startMosquitto } from '../helpers/brokers.js';
import { freePort, waitFor } from '../helpers/net.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { requireTool } from '../helpers/tools.js';

function storedDecisions(path: string): { seq: number; id: string }[] {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    return db.prepare('SELECT seq, id FROM decisions ORDER BY seq').all() as { seq: number; id: string }[];
  } finally {
    db.close();
  }
}

t.test('SIGKILL mid-run loses no stored decision, and seq keeps increasing after the restart', async (t) => {
  if (!requireTool(t, 'mosquitto', 'the restarted agent must deliver what the killed one stored')) return;
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const proxy = new TcpProxy(await freePort(), broker.port);
  t.teardown(() => proxy.down());
  const sub = await collect(broker.url, 't/crash/decisions/#');
  t.teardown(() => sub.end());
  const dir = tempDir();
  const httpPort = await freePort();
  const config = writeConfig(
    dir,
    `agent: { id: e2e-crash }
store: { path: ${dir}/agent.db }
mqtt: { url: "mqtt://127.0.0.1:${proxy.port}", topicRoot: t/crash, reconnectMinMs: 100, reconnectMaxMs: 500 }
health: { listen: "127.0.0.1:${httpPort}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: interval, fps: 25 }, model: washer, deadlineMs: 2000 }
`,
  );
  const http = agentHttp(httpPort);

  const first = spawnAgent(['run', '-c', config]);
  t.teardown(() => first.stop('SIGKILL'));
  await waitFor(async () => ((await http.status())?.store.lastSeq ?? 0) >= 20, 60_000, '20 decisions');
  first.proc.kill('SIGKILL');
  await first.exited;
  const beforeRestart = storedDecisions(`${dir}/agent.db`);
  const lastBefore = beforeRestart.at(-1)?.seq ?? 0;
  t.ok(lastBefore >= 20, `${lastBefore} decisions stored before the kill`);
  t.same(
    beforeRestart.map((d) => d.seq),
    Array.from({ length: lastBefore }, (_, i) => i + 1),
    'the killed agent left a contiguous log',
  );

  await proxy.up();
  const second = spawnAgent(['run', '-c', config]);
  t.teardown(() => second.stop('SIGKILL'));
  await waitFor(
    async () => ((await http.status())?.store.lastSeq ?? 0) >= lastBefore + 10,
    60_000,
    'new decisions',
  );
  await waitFor(async () => (await http.status())?.store.backlog === 0, 30_000, 'backlog delivered');
  t.equal(await second.stop('SIGTERM'), 0);

  const after = storedDecisions(`${dir}/agent.db`);
  const lastAfter = after.at(-1)?.seq ?? 0;
  t.same(
    after.map((d) => d.seq),
    Array.from({ length: lastAfter }, (_, i) => i + 1),
    'seq continues with no gap',
  );
  t.same(
    after.slice(0, lastBefore),
    beforeRestart,
    'every decision stored before the kill is still there, unchanged',
  );
  const published = new Set(sub.messages.map((m) => (m.json() as { id: string }).id));
  const missing = beforeRestart.filter((d) => !published.has(d.id));
  t.same(missing, [], 'every decision stored before the kill was delivered after the restart');
});
