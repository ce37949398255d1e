import { performance } from 'node:perf_hooks';
import t from 'tap';
import { agentHttp } from '../helpers/agent-http.js';
import { SLOW_MODEL, spawnAgent, tempDir, writeConfig } from '../helpers/agent-process.js';
import { freePort, waitFor } from '../helpers/net.js';

t.test('/healthz answers within 50 ms while inference runs continuously', async (t) => {
  const dir = tempDir();
  const httpPort = await freePort();
  // the slow fixture model takes well over 50 ms a run: were inference on the main thread, /healthz would
  // wait for whole runs and this test would fail
  const config = writeConfig(
    dir,
    `agent: { id: e2e-load }
store: { path: ${dir}/agent.db }
mqtt: { url: "mqtt://127.0.0.1:1", reconnectMinMs: 5000 }
health: { listen: "127.0.0.1:${httpPort}" }
models: [{ id: slow, path: ${SLOW_MODEL} }]
cameras:
  - { id: cam-1, source: { type: synthetic, width: 320, height: 240, fps: 50 }, trigger: { type: continuous }, model: slow, deadlineMs: 5000 }
`,
  );
  const agent = spawnAgent(['run', '-c', config]);
  t.teardown(() => agent.stop('SIGKILL'));
  const http = agentHttp(httpPort);
  await waitFor(async () => ((await http.status())?.store.lastSeq ?? 0) >= 3, 60_000, 'inference running');

  const timings: number[] = [];
  for (let i = 0; i < 40; i++) {
    const started = performance.now();
    const res = await fetch(`${http.base}/healthz`);
    await res.json();
    timings.push(performance.now() - started);
    t.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 15));
  }
  const decisions = (await http.decisions('?limit=20')) ?? [];
  const inference = decisions.map((d) => d.latencyMs.inference).filter((v) => v > 0);
  const meanInference = inference.reduce((a, b) => a + b, 0) / inference.length;
  t.ok(meanInference > 50, `inference really is busy: ${meanInference.toFixed(0)} ms a run`);
  const sorted = [...timings].sort((a, b) => a - b);
  const p95 = sorted[Math.floor(sorted.length * 0.95)] ?? Number.POSITIVE_INFINITY;
  // 50 ms while the model runs at its usual ~250 ms; on a box so loaded that a run takes seconds, a quarter
  // of a run: were inference on the main thread, /healthz would wait for whole runs (p95 near one run)
  const bound = Math.max(50, meanInference / 4);
  t.ok(
    p95 < bound,
    `/healthz p95 ${p95.toFixed(1)} ms < ${bound.toFixed(0)} ms (median ${sorted[20]?.toFixed(1)} ms) while a ${meanInference.toFixed(0)} ms model runs back to back`,
  );
  t.equal(await agent.stop('SIGTERM'), 0);
});
