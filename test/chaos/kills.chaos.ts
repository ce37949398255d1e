import t from 'tap';
import { agentHttp } from '../helpers/agent-http.js';
import { spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { collect, startMosquitto } from '../helpers/brokers.js';
import { freePort, waitFor } from '../helpers/net.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { requireTool } from '../helpers/tools.js';
import {
  deliveryProblems,
  integrityCheck,
  recordFigures,
  rng,
  scaled,
  storedDecisions,
} from './chaos-lib.js';

// Scenario 1 (docs/reliability.md): SIGKILL at random moments under continuous triggers while the network to
// the broker flaps. Every seq arrives, no gap, a seq seen twice carries one id, integrity_check ok each time.
const KILLS = scaled(8, 50);

t.test(`${KILLS} SIGKILLs under continuous triggers with the broker link flapping`, async (t) => {
  if (!requireTool(t, 'mosquitto', 'the killed agents deliver to a real broker')) return;
  const random = rng();
  t.comment(`CHAOS_SEED=${random.seed}`);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const proxy = new TcpProxy(await freePort(), broker.port);
  t.teardown(() => proxy.down());
  const sub = await collect(broker.url, 't/kills/decisions/#');
  t.teardown(() => sub.end());
  const dir = tempDir('eva-chaos-kills-');
  const httpPort = await freePort();
  const config = writeConfig(
    dir,
    `agent: { id: chaos-kills }
store: { path: ${dir}/agent.db }
mqtt: { url: "mqtt://127.0.0.1:${proxy.port}", topicRoot: t/kills, reconnectMinMs: 100, reconnectMaxMs: 400 }
health: { listen: "127.0.0.1:${httpPort}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: synthetic, width: 160, height: 120, fps: 30 }, trigger: { type: interval, fps: 20 }, model: washer, deadlineMs: 3000 }
`,
  );
  const http = agentHttp(httpPort);

  // the link flaps on its own schedule, independent of the kills
  let flapping = true;
  let flaps = 0;
  const flapper = (async () => {
    while (flapping) {
      await proxy.up();
      await new Promise((r) => setTimeout(r, random.int(200, 1500)));
      if (!flapping) break;
      await proxy.down();
      flaps++;
      await new Promise((r) => setTimeout(r, random.int(100, 1000)));
    }
  })();

  let lastSeq = 0;
  const integrity: string[] = [];
  for (let k = 0; k < KILLS; k++) {
    const agent = spawnAgent(['run', '-c', config], { env: { LOG_LEVEL: 'warn' } });
    t.teardown(() => agent.stop('SIGKILL'));
    const before = lastSeq;
    // wait for at least one new decision, then kill at a random moment within the next 1.5 s
    await waitFor(
      async () => ((await http.status())?.store.lastSeq ?? 0) > before,
      60_000,
      `decisions after restart ${k}`,
    );
    await new Promise((r) => setTimeout(r, random.int(0, 1500)));
    agent.proc.kill('SIGKILL');
    await agent.exited;
    integrity.push(integrityCheck(`${dir}/agent.db`));
    const stored = storedDecisions(`${dir}/agent.db`);
    lastSeq = stored.at(-1)?.seq ?? 0;
    if (stored.length !== lastSeq || lastSeq < before) {
      t.fail(`after kill ${k + 1}: ${stored.length} rows for last seq ${lastSeq} (was ${before})`);
    }
  }
  flapping = false;
  await flapper;
  await proxy.up();

  // a last run with a steady link delivers whatever the killed ones left behind
  const last = spawnAgent(['run', '-c', config], { env: { LOG_LEVEL: 'warn' } });
  t.teardown(() => last.stop('SIGKILL'));
  await waitFor(
    async () => ((await http.status())?.store.lastSeq ?? 0) > lastSeq,
    60_000,
    'the last run decides',
  );
  await waitFor(async () => (await http.status())?.store.backlog === 0, 120_000, 'backlog delivered');
  t.equal(await last.stop('SIGTERM'), 0, 'the last run stops cleanly');
  integrity.push(integrityCheck(`${dir}/agent.db`));

  const stored = storedDecisions(`${dir}/agent.db`);
  const final = stored.at(-1)?.seq ?? 0;
  t.same(
    stored.map((d) => d.seq),
    Array.from({ length: final }, (_, i) => i + 1),
    `the store holds seq 1..${final} with no gap`,
  );
  t.same(
    integrity.filter((r) => r !== 'ok'),
    [],
    `integrity_check ok after each of ${integrity.length} stops`,
  );
  const published = sub.messages.map((m) => m.json() as { seq: number; id: string });
  const problems = deliveryProblems(published, final);
  t.same(problems.missing, [], 'every seq arrived');
  t.same(problems.conflicting, [], 'a seq delivered twice carries the same id');
  const storedIds = new Map(stored.map((d) => [d.seq, d.id]));
  t.ok(
    published.every((d) => storedIds.get(d.seq) === d.id),
    'every published decision is the stored one',
  );
  recordFigures(t, '1-kills', {
    faults: { sigkills: KILLS, linkFlaps: flaps },
    decisionsChecked: final,
    published: published.length,
    duplicatesById: problems.duplicates,
    lost: problems.missing.length,
    integrityChecks: integrity.length,
  });
});
