/**
 * `npm run bench:page` (after `npm run build`): how fast the technician page and `/api/status` answer while
 * inference runs at full load, and what open pages cost the line. The built agent (as a plant runs it)
 * judges two continuous cameras (a classifier and a detector, one worker each: both cores busy); requests
 * are timed one after another from this process:
 *   idle          the same agent with its cameras disabled
 *   full load     both cameras judging as fast as the models allow
 *   + 8 pages     the same, with 8 pages open (8 event streams, each fetching both judged frames every second)
 * (the two loaded phases alternate twice). Figures are wall-clock ms from request to last byte (p50 / p95 / max), and decisions/s over each phase.
 * First, in this process, the CPU one judged frame (annotated) and one aiming snapshot (JPEG + meter) cost.
 */
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import type { Frame } from '../agent/capture/index.js';
import { measureFocus } from '../agent/page/index.js';
import { frameJpeg, judgedJpeg } from '../agent/store/index.js';
import { agentHttp } from '../test/helpers/agent-http.js';
import {
  REPO,
  SAMPLES,
  spawnAgent,
  tempDir,
  WASHER_MODEL,
  writeConfig,
} from '../test/helpers/agent-process.js';
import { freePort, waitFor } from '../test/helpers/net.js';

const DETECTOR = join(REPO, 'models/washer-det/model.onnx');
const REQUESTS = 60;
const PAGES = 8;

function row(label: string, values: Record<string, string | number>) {
  const cells = Object.entries(values).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(1) : v}`);
  process.stdout.write(`${label.padEnd(40)} ${cells.join('  ')}\n`);
}

async function startAgent(enabled: boolean) {
  const dir = tempDir('eva-bench-page-');
  const port = await freePort();
  const config = writeConfig(
    dir,
    `agent: { id: bench-page }
store: { path: ${dir}/agent.db }
mqtt: { url: "mqtt://127.0.0.1:1", reconnectMinMs: 5000 }
health: { listen: "127.0.0.1:${port}" }
models:
  - { id: washer, path: ${WASHER_MODEL} }
  - { id: detector, path: ${DETECTOR} }
cameras:
  - { id: cam-cls, enabled: ${enabled}, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: continuous }, model: washer, deadlineMs: 2000 }
  - { id: cam-det, enabled: ${enabled}, source: { type: synthetic, width: 1280, height: 720, fps: 30 }, trigger: { type: continuous }, model: detector, deadlineMs: 2000 }
`,
  );
  const agent = spawnAgent(['run', '-c', config], { env: { LOG_LEVEL: 'warn' } });
  const http = agentHttp(port);
  await waitFor(
    async () => (await http.status())?.models.every((m) => m.state === 'ready'),
    60_000,
    'models',
  );
  if (enabled)
    await waitFor(async () => ((await http.status())?.store.lastSeq ?? 0) >= 20, 60_000, 'judging');
  return { agent, http };
}

async function timed(url: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  if (!res.ok && res.status !== 503) throw new Error(`${url}: HTTP ${res.status}`);
  return performance.now() - started;
}

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  return { p50: at(0.5), p95: at(0.95), max: s.at(-1) ?? Number.NaN };
}

/** Opens `n` pages' worth of load: an event stream each, and both judged frames fetched every second. */
function openPages(base: string, n: number): () => void {
  const requests = Array.from({ length: n }, () => get(`${base}/api/events`, (res) => res.resume()));
  const timers = Array.from({ length: n }, () =>
    setInterval(() => {
      for (const cam of ['cam-cls', 'cam-det'])
        void timed(`${base}/api/cameras/${cam}/judged`).catch(() => {});
    }, 1_000),
  );
  return () => {
    for (const r of requests) r.destroy();
    for (const t of timers) clearInterval(t);
  };
}

/** The agent's own event-loop delay since the last scrape (prom-client resets it on each collect), in ms. */
async function loopDelay(base: string): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const read = (name: string) =>
    Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) * 1000;
  return { p99: read('nodejs_eventloop_lag_p99_seconds'), max: read('nodejs_eventloop_lag_max_seconds') };
}

async function phase(label: string, http: ReturnType<typeof agentHttp>) {
  await loopDelay(http.base);
  const before = (await http.status())?.store.lastSeq ?? 0;
  const started = performance.now();
  const routes = [
    '/',
    '/api/status',
    '/api/cameras/cam-det/judged',
    '/api/cameras/cam-det/snapshot',
    '/healthz',
  ];
  const timings = new Map<string, number[]>(routes.map((r) => [r, []]));
  for (let i = 0; i < REQUESTS; i++) {
    for (const route of routes) timings.get(route)?.push(await timed(http.base + route));
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - started) / 1000;
  const decided = ((await http.status())?.store.lastSeq ?? 0) - before;
  const loop = await loopDelay(http.base);
  row(`${label}: line`, {
    'decisions/s': decided / seconds,
    'agent loop delay p99 ms': loop.p99,
    max: loop.max,
  });
  for (const [route, ms] of timings) row(`${label}: GET ${route}`, stats(ms));
}

/** CPU ms per call of what the page asks the agent to draw, for a 1280x720 frame (raw, as video gives). */
async function drawingCost() {
  const { data, info } = await sharp(readFileSync(join(SAMPLES, '0001.jpg')))
    .resize(1280, 720, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw: Frame = {
    kind: 'raw',
    data,
    width: info.width,
    height: info.height,
    channels: 3,
    capturedAt: 1,
  };
  const jpeg: Frame = { kind: 'encoded', data: await frameJpeg(raw), capturedAt: 1 };
  const box: [number, number, number, number] = [300, 200, 400, 300];
  const view = {
    verdict: 'NG',
    reason: 'dent',
    result: { task: 'detection' as const, detections: [{ label: 'dent', score: 0.9, box }] },
  };
  const cost = async (label: string, work: () => Promise<unknown>) => {
    for (let i = 0; i < 3; i++) await work();
    const started = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < 20; i++) await work();
    const used = process.cpuUsage(cpu);
    row(label, {
      'cpu ms': (used.user + used.system) / 1000 / 20,
      'wall ms': (performance.now() - started) / 20,
    });
  };
  await cost('judged frame, 1280x720 raw', () => judgedJpeg(raw, view));
  await cost('judged frame, 1280x720 JPEG', () => judgedJpeg(jpeg, view));
  await cost('aiming snapshot + meter, 1280x720 raw', () => Promise.all([frameJpeg(raw), measureFocus(raw)]));
}

async function main() {
  await drawingCost();
  process.stdout.write(`technician page and /api/status, ${REQUESTS} requests per route per phase (ms)\n`);
  const idle = await startAgent(false);
  await phase('idle', idle.http);
  await idle.agent.stop('SIGTERM');

  const busy = await startAgent(true);
  // twice each, alternating: the box is shared, and one pair alone can mislead
  for (const round of [1, 2]) {
    await phase(`full load (${round})`, busy.http);
    const close = openPages(busy.http.base, PAGES);
    await new Promise((r) => setTimeout(r, 2_000));
    await phase(`full load + ${PAGES} pages (${round})`, busy.http);
    close();
  }
  await busy.agent.stop('SIGTERM');
}

await main();
