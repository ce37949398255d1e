/**
 * `npm run bench:drift`: what drift monitoring costs per frame, against what preprocessing costs, and that
 * its memory stays bounded (docs/drift.md, "Cost"). The machines are shared and noisy: compare the ratios
 * within one run.
 *   1. image statistics per frame (in the inference worker) vs preprocessing of the same frame, for the
 *      washer classifier's 128 px input and a 640 px letterbox (detection), from 640x480 and 1920x1080 JPEGs;
 *   2. the main thread's work per stored decision (the DecisionStored listener: features, bins, fitness);
 *   3. judging a closed window (tests, charts, report, SQLite write), off the decision path (the first
 *      one designs the EWMA limit: a Markov chain solved once per run-length target);
 *   4. building a 4000-frame baseline (once, in slices between parts);
 *   5. heap after 200 000 decisions against after 2 000.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import type { Frame } from '../agent/capture/index.js';
import { defaultDriftConfig } from '../agent/config/index.js';
import { freshCharts } from '../agent/drift/evaluate.js';
import { buildBaseline, CameraAlerts, DriftStore, featuresOf } from '../agent/drift/index.js';
import { OutcomeBook } from '../agent/drift/outcomes.js';
import { judgeWindow } from '../agent/drift/report-builder.js';
import { WindowAccumulator } from '../agent/drift/window.js';
import { imageStatsOf, preprocess } from '../agent/inference/index.js';
import type { InputSpec } from '../agent/inference/manifest-schema.js';
import {
  BASE_MIX,
  DriftHarness,
  judgedPool,
  SAMPLE_MODEL_SHA,
  StreamDrawer,
  washerRunner,
} from '../test/helpers/drift-streams.js';

const REPO = join(import.meta.dirname, '..');
const SAMPLES = join(REPO, 'samples/washer');

function row(label: string, values: Record<string, string | number>) {
  const cells = Object.entries(values).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(3) : v}`);
  process.stdout.write(`${label.padEnd(52)} ${cells.join('  ')}\n`);
}

const washerInput: InputSpec = {
  name: 'input',
  dtype: 'float32',
  layout: 'NCHW',
  width: 128,
  height: 128,
  colorOrder: 'RGB',
  resize: 'stretch',
  padValue: 114,
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  normalizedInGraph: false,
};
const detectionInput: InputSpec = {
  ...washerInput,
  name: 'images',
  width: 640,
  height: 640,
  resize: 'letterbox',
  mean: [0, 0, 0],
  std: [1, 1, 1],
};

async function frames(scaleTo?: [number, number]): Promise<Frame[]> {
  const files = readdirSync(SAMPLES).filter((f) => f.endsWith('.jpg'));
  return Promise.all(
    files.map(async (name) => {
      const raw = readFileSync(join(SAMPLES, name));
      const data = scaleTo
        ? await sharp(raw).resize(scaleTo[0], scaleTo[1]).jpeg({ quality: 90 }).toBuffer()
        : raw;
      return { kind: 'encoded' as const, data, capturedAt: 0, name };
    }),
  );
}

async function perFrame(label: string, input: InputSpec, fs: Frame[], rounds: number) {
  let preMs = 0;
  let statsMs = 0;
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    for (const f of fs) {
      const t0 = performance.now();
      const pre = await preprocess(f, input);
      const t1 = performance.now();
      imageStatsOf(pre.tensor.data, input, pre.region);
      const t2 = performance.now();
      if (r > 0) {
        preMs += t1 - t0;
        statsMs += t2 - t1;
        n++;
      }
    }
  }
  row(label, {
    preprocessMs: preMs / n,
    imageStatsMs: statsMs / n,
    share: `${((100 * statsMs) / preMs).toFixed(2)}%`,
  });
}

async function main() {
  const small = await frames();
  const hd = await frames([1920, 1080]);
  process.stdout.write(
    '# 1. image statistics (inference worker) vs preprocessing (decode, resize, normalise)\n',
  );
  await perFrame('washer 128x128 stretch, 640x480 JPEG', washerInput, small, 6);
  await perFrame('washer 128x128 stretch, 1920x1080 JPEG', washerInput, hd, 3);
  await perFrame('detection 640x640 letterbox, 640x480 JPEG', detectionInput, small, 4);
  await perFrame('detection 640x640 letterbox, 1920x1080 JPEG', detectionInput, hd, 3);

  const runner = await washerRunner();
  const pool = await judgedPool(runner, {}, 4, 1);
  await runner.stop();
  const draw = new StreamDrawer(5);

  process.stdout.write('# 2. main thread per stored decision (DecisionStored listener)\n');
  const h = new DriftHarness({ window: 500 });
  await h.start();
  await h.baselineFrom(4000, () => draw.draw(pool, BASE_MIX));
  const decisions = Array.from({ length: 20_000 }, () => draw.draw(pool, BASE_MIX));
  // feed() advances the manual clock every few decisions (that is the judging of closed windows): time
  // the listener alone by emitting directly
  const emitOnly = () => {
    const t0 = performance.now();
    let seq = 1e6;
    for (const j of decisions) {
      seq++;
      h.events.emit('DecisionStored', {
        decision: {
          schema: 1,
          id: `b-${seq}`,
          seq,
          agentId: 'bench',
          cameraId: 'cam-1',
          triggeredAt: 0,
          capturedAt: 0,
          decidedAt: 0,
          verdict: j.verdict,
          reason: '',
          degraded: false,
          historical: false,
          model: {
            id: 'washer',
            version: '1',
            sha256: '7f43618e8a397545681199200760db63c041a60f4738d09d1ac8eb7de6b33080',
            provider: 'cpu',
          },
          result: j.result,
          latencyMs: { queue: 0, preprocess: 0, inference: 0, total: j.latencyMs },
          image: null,
        },
        imageStats: j.imageStats,
      });
    }
    return (performance.now() - t0) / decisions.length;
  };
  emitOnly();
  row('listener per decision (features, bins, fitness)', { us: emitOnly() * 1000 });

  process.stdout.write(
    '# 3. judging a closed window (off the decision path: the next turn of the event loop)\n',
  );
  const store = new DriftStore(h.store);
  const baseline0 = store.latestBaseline('cam-1', SAMPLE_MODEL_SHA);
  if (!baseline0) throw new Error('no baseline');
  const charts = freshCharts();
  const alerts = new CameraAlerts('cam-1', { raise: () => {} });
  const outcomes = new OutcomeBook();
  const config = { ...defaultDriftConfig(), window: 500 };
  const times: number[] = [];
  let bytes = 0;
  for (let w = 0; w < 30; w++) {
    const acc = new WindowAccumulator(w, baseline0);
    for (let i = 0; i < 500; i++) {
      const j = draw.draw(pool, BASE_MIX);
      const f = featuresOf(
        {
          result: j.result,
          verdict: j.verdict,
          degraded: false,
          latencyMs: { queue: 0, preprocess: 0, inference: 0, total: j.latencyMs },
        },
        j.imageStats,
      );
      if (f) acc.add(f, i, false);
    }
    const t0 = performance.now();
    const { report } = judgeWindow({
      agentId: 'bench',
      cameraId: 'cam-1',
      model: baseline0.model,
      window: acc,
      closedAt: 250_000 * (w + 1),
      windowMs: 250_000,
      charts,
      alerts,
      outcomes,
      config,
    });
    store.saveReport(report);
    times.push(performance.now() - t0);
    bytes = JSON.stringify(report).length;
  }
  const steady = times.slice(5);
  row('window of 500: tests, charts, report, SQLite write', {
    meanMs: steady.reduce((a, b) => a + b, 0) / steady.length,
    maxMs: Math.max(...steady),
    firstMs: times[0] as number,
    reportBytes: bytes,
  });

  process.stdout.write('# 4. building a baseline\n');
  const features = Array.from({ length: 4000 }, () => {
    const j = draw.draw(pool, BASE_MIX);
    return featuresOf(
      {
        result: j.result,
        verdict: j.verdict,
        degraded: false,
        latencyMs: { queue: 0, preprocess: 0, inference: 0, total: j.latencyMs },
      },
      j.imageStats,
    );
  }).filter((f) => f !== undefined);
  const slices: number[] = [];
  let last = performance.now();
  const b0 = performance.now();
  const baseline = await buildBaseline(
    features,
    {
      cameraId: 'cam-1',
      model: { id: 'washer', version: '1', sha256: 'x' },
      builtAt: 0,
      source: 'live',
      window: 500,
    },
    async () => {
      slices.push(performance.now() - last);
      await new Promise((r) => setImmediate(r));
      last = performance.now();
    },
  );
  slices.sort((a, b) => a - b);
  row('4000 frames, window 500', {
    totalMs: performance.now() - b0,
    slices: slices.length,
    medianSliceMs: slices[Math.floor(slices.length / 2)] as number,
    p99SliceMs: slices[Math.floor(slices.length * 0.99)] as number,
    baselineBytes: JSON.stringify(baseline).length,
  });

  process.stdout.write('# 5. memory: fixed bins, no per-frame history\n');
  const heap = () => {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().heapUsed / 1024 / 1024;
  };
  for (let i = 0; i < 2_000; i++) await h.feed(draw.draw(pool, BASE_MIX));
  await h.clock.advance(1);
  h.reports.length = 0; // the bench's own record of reports, not the monitor's
  const after2k = heap();
  for (let i = 0; i < 200_000; i++) {
    await h.feed(draw.draw(pool, BASE_MIX));
    if (h.reports.length > 10) h.reports.length = 0;
  }
  await h.clock.advance(1);
  h.reports.length = 0;
  const after200k = heap();
  row('heap MB after 2 000 and after 200 000 more decisions', {
    after2k: after2k,
    after200k: after200k,
    growthMB: after200k - after2k,
    gc: (globalThis as { gc?: unknown }).gc ? 'forced' : 'not exposed (run with --expose-gc)',
  });
  await h.stop();
}

await main();
