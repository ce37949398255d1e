/**
 * `npm run bench:micro`: throughput and latency figures measured side by side in one run (the machines are
 * shared and noisy: compare ratios within a run, not absolute numbers across runs). The end-to-end benchmark
 * (limit, plain script, agent) is `npm run bench` (bench/perf/run.ts, docs/performance.md).
 *   npm run bench:micro                 all
 *   npm run bench:micro -- inference    one group: inference | store | loop
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import pino from 'pino';
import 'sharp';
import type { Frame } from '../agent/capture/index.js';
import { loadManifest, ModelRunner, preprocess } from '../agent/inference/index.js';
import { DecisionStore } from '../agent/store/index.js';
import { tempDir } from '../test/helpers/agent-process.js';
import { draft } from '../test/helpers/fixtures.js';

const log = pino({ level: 'silent' });
const REPO = join(import.meta.dirname, '..');
const SAMPLES = join(REPO, 'samples/washer');

function frames(): Frame[] {
  return readdirSync(SAMPLES)
    .filter((f) => f.endsWith('.jpg'))
    .map((name) => ({
      kind: 'encoded' as const,
      data: readFileSync(join(SAMPLES, name)),
      capturedAt: Date.now(),
      name,
    }));
}

function row(label: string, values: Record<string, string | number>) {
  const cells = Object.entries(values).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(2) : v}`);
  process.stdout.write(`${label.padEnd(44)} ${cells.join('  ')}\n`);
}

async function benchInference(modelId: string, modelPath: string, workers: number, seconds: number) {
  const runner = new ModelRunner(
    { id: modelId, path: modelPath, providers: ['cpu'], workers, intraOpThreads: workers > 1 ? 1 : 0 },
    log,
  );
  await runner.start();
  if (runner.state !== 'ready') throw new Error(`model ${modelId} failed: ${runner.snapshot().error}`);
  const input = frames();
  let done = 0;
  let pre = 0;
  let inf = 0;
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  // keep `workers` frames in flight so every worker is busy
  await Promise.all(
    Array.from({ length: workers }, async (_, lane) => {
      let i = lane;
      while (performance.now() < until) {
        const r = await runner.infer(input[i++ % input.length] as Frame);
        pre += r.timings.preprocess;
        inf += r.timings.inference;
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await runner.stop();
  row(`inference ${modelId} cpu workers=${workers}`, {
    'frames/s': done / elapsed,
    'preprocess ms': pre / done,
    'inference ms': inf / done,
  });
}

/** Event-loop delay while a model runs: in a worker (what the agent does) vs on the main thread. */
async function benchLoop(modelPath: string, seconds: number) {
  const manifest = loadManifest(modelPath).manifest;
  const tensor = (await preprocess(frames()[0] as Frame, manifest.input)).tensor;
  const measure = async (label: string, work: () => Promise<void>) => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) await work();
    h.disable();
    row(label, {
      'loop delay p50 ms': h.percentile(50) / 1e6,
      'p99 ms': h.percentile(99) / 1e6,
      'max ms': h.max / 1e6,
    });
  };
  const session = await ort.InferenceSession.create(modelPath);
  const feeds = {
    [manifest.input.name]: new ort.Tensor('float32', tensor.data as Float32Array, tensor.dims),
  };
  await measure(`event loop, ${manifest.id} on main thread`, async () => {
    await session.run(feeds);
  });
  await session.release();
  const runner = new ModelRunner(
    { id: manifest.id, path: modelPath, providers: ['cpu'], workers: 1, intraOpThreads: 0 },
    log,
  );
  await runner.start();
  const frame = frames()[0] as Frame;
  await measure(`event loop, ${manifest.id} in worker (agent)`, async () => {
    await runner.infer(frame);
  });
  await runner.stop();
}

function benchStore(count: number) {
  for (const sync of ['FULL', 'NORMAL'] as const) {
    const path = join(tempDir('eva-bench-'), 'agent.db');
    const store = DecisionStore.open({ path, agentId: 'bench', log, synchronous: sync });
    const started = performance.now();
    for (let i = 0; i < count; i++) store.record(draft());
    const elapsed = (performance.now() - started) / 1000;
    row(`store record synchronous=${sync}${sync === 'FULL' ? ' (agent)' : ''}`, {
      'decisions/s': count / elapsed,
      'ms each': (elapsed * 1000) / count,
    });
    store.close();
  }
}

const groups = process.argv.slice(2);
const want = (g: string) => groups.length === 0 || groups.includes(g);
const washer = join(REPO, 'models/washer/model.onnx');
const slow = join(REPO, 'test/fixtures/models/slow/model.onnx');
process.stdout.write(`edge-vision-agent bench, node ${process.version}, ${new Date().toISOString()}\n`);
if (want('inference')) {
  await benchInference('washer', washer, 1, 5);
  await benchInference('washer', washer, 2, 5);
}
if (want('loop')) await benchLoop(slow, 3);
if (want('store')) benchStore(2000);
