import t from 'tap';
import { agentHttp } from '../helpers/agent-http.js';
import { SAMPLES, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { collect, startMosquitto } from '../helpers/brokers.js';
import { freePort, waitFor } from '../helpers/net.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { requireTool } from '../helpers/tools.js';
import { deliveryProblems, procUsage, recordFigures, scaled } from './chaos-lib.js';

// Scenario 8 (docs/reliability.md): a soak (full: 30 minutes, never in CI; ci: 60 s) with two cameras,
// requests over HTTP and the broker link cut once a minute: RSS and open file descriptors stay flat.
const DURATION_MS = scaled(60_000, 30 * 60_000);
const SAMPLE_MS = scaled(5_000, 30_000);

t.test(`a ${DURATION_MS / 60_000}-minute soak: RSS and open handles flat`, async (t) => {
  if (!requireTool(t, 'mosquitto', 'the soak delivers to a real broker')) return;
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const proxy = new TcpProxy(await freePort(), broker.port);
  await proxy.up();
  t.teardown(() => proxy.down());
  const sub = await collect(broker.url, 't/soak/decisions/#');
  t.teardown(() => sub.end());
  const dir = tempDir('eva-chaos-soak-');
  const httpPort = await freePort();
  const config = writeConfig(
    dir,
    `agent: { id: chaos-soak }
store: { path: ${dir}/agent.db }
mqtt: { url: "mqtt://127.0.0.1:${proxy.port}", topicRoot: t/soak, reconnectMinMs: 100, reconnectMaxMs: 500 }
health: { listen: "127.0.0.1:${httpPort}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: synthetic, width: 320, height: 240, fps: 30 }, trigger: { type: interval, fps: 10 }, model: washer }
  - { id: cam-2, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: interval, fps: 5 }, model: washer }
`,
  );
  const agent = spawnAgent(['run', '-c', config], { env: { LOG_LEVEL: 'warn' } });
  t.teardown(() => agent.stop('SIGKILL'));
  const http = agentHttp(httpPort);
  await waitFor(async () => ((await http.status())?.store.lastSeq ?? 0) >= 10, 60_000, 'decisions');
  const pid = agent.proc.pid as number;
  const samples: { at: number; rssKB: number; fds: number }[] = [];
  const started = Date.now();
  let cuts = 0;
  let requests = 0;
  while (Date.now() - started < DURATION_MS) {
    await new Promise((r) => setTimeout(r, SAMPLE_MS));
    const elapsed = Date.now() - started;
    // the network blinks every sixth sample
    if (samples.length % 6 === 5) {
      await proxy.down();
      cuts++;
      await new Promise((r) => setTimeout(r, 1_000));
      await proxy.up();
    }
    for (const path of ['/api/status', '/metrics', '/api/decisions?limit=50', '/']) {
      await fetch(`${http.base}${path}`)
        .then((r) => r.arrayBuffer())
        .catch(() => undefined);
      requests++;
    }
    samples.push({ at: elapsed, ...procUsage(pid) });
  }
  await waitFor(async () => (await http.status())?.store.backlog === 0, 60_000, 'backlog delivered');
  const last = (await http.status())?.store.lastSeq ?? 0;
  t.equal(await agent.stop('SIGTERM'), 0, 'a clean stop');
  // flat: the last third's peak against the second third's (the first third is warm-up: caches, JIT, WAL)
  const third = Math.max(1, Math.floor(samples.length / 3));
  const mid = samples.slice(third, 2 * third);
  const tail = samples.slice(2 * third);
  const peak = (xs: typeof samples, k: 'rssKB' | 'fds') => Math.max(...xs.map((s) => s[k]));
  const rssGrowth = peak(tail, 'rssKB') / peak(mid, 'rssKB');
  t.ok(rssGrowth < 1.15, `RSS flat: last third's peak ${peak(tail, 'rssKB')} kB vs ${peak(mid, 'rssKB')} kB`);
  t.ok(
    peak(tail, 'fds') <= peak(mid, 'fds') + 5,
    `open fds flat: ${peak(mid, 'fds')} -> ${peak(tail, 'fds')}`,
  );
  const problems = deliveryProblems(
    sub.messages.map((m) => m.json() as { seq: number; id: string }),
    last,
  );
  t.same(problems.missing, [], `every seq 1..${last} arrived`);
  recordFigures(t, '8-soak', {
    durationS: DURATION_MS / 1000,
    faults: { linkCuts: cuts },
    httpRequests: requests,
    rssKB: {
      first: samples[0]?.rssKB,
      midPeak: peak(mid, 'rssKB'),
      tailPeak: peak(tail, 'rssKB'),
      last: samples.at(-1)?.rssKB,
    },
    fds: {
      first: samples[0]?.fds,
      midPeak: peak(mid, 'fds'),
      tailPeak: peak(tail, 'fds'),
      last: samples.at(-1)?.fds,
    },
    decisionsChecked: last,
    lost: problems.missing.length,
  });
});
