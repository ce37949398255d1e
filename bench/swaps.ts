/**
 * `npm run bench:swaps`: memory over 20 model swaps. The washer model (version 1, from models/) and a copy
 * installed as version 2 are swapped 20 times (promote, rollback, promote, ...), with frames judged between
 * swaps; each swap starts a fresh worker for the incoming version and drains and ends the outgoing one's.
 * Prints the process RSS after each swap. onnxruntime-node is reported to grow with session churn
 * (FIELD-NOTES); retiring a version by ending its worker thread should keep the figures flat.
 * BENCH_SWAPS / BENCH_FRAMES change the counts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Frame } from '../agent/capture/index.js';
import { ModelDeployment } from '../agent/models/index.js';
import { systemClock } from '../agent/service.js';
import { REPO, SAMPLES, tempDir } from '../test/helpers/agent-process.js';
import { washerConfig, washerVersion } from '../test/helpers/model-versions.js';

const SWAPS = Number(process.env.BENCH_SWAPS ?? 20);
const FRAMES = Number(process.env.BENCH_FRAMES ?? 10);
const log = pino({ level: 'silent' });
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const gc = (globalThis as { gc?: () => void }).gc;

const frames: Frame[] = readdirSync(SAMPLES)
  .filter((f) => f.endsWith('.jpg'))
  .slice(0, FRAMES)
  .map((f) => ({ kind: 'encoded', data: readFileSync(join(SAMPLES, f)), capturedAt: Date.now(), name: f }));

function rss(): number {
  gc?.();
  return process.memoryUsage().rss;
}

const deployment = new ModelDeployment(
  washerConfig({ path: join(REPO, 'models/washer/model.onnx'), intraOpThreads: 1 }),
  { log, clock: systemClock, versionsDir: tempDir('eva-bench-versions-') },
);
await deployment.start();
await deployment.install(washerVersion('2'));
for (const f of frames) await deployment.infer(f);
const start = rss();
process.stdout.write(`model washer, ${FRAMES} frames between swaps, gc ${gc ? 'forced' : 'not exposed'}\n`);
process.stdout.write(`before swaps: rss ${mb(start)} MB (version 1 active, version 2 in shadow)\n`);
const figures: number[] = [];
for (let i = 1; i <= SWAPS; i++) {
  const t0 = performance.now();
  const swapped = i % 2 === 1 ? await deployment.promote('2') : await deployment.rollback();
  const swapMs = performance.now() - t0;
  for (const f of frames) await deployment.infer(f);
  const now = rss();
  figures.push(now);
  process.stdout.write(
    `swap ${String(i).padStart(2)}: ${String(swapped.previous).padStart(2)} -> ${swapped.version}  ${swapMs.toFixed(0).padStart(5)} ms  rss ${mb(now)} MB\n`,
  );
}
await deployment.stop();
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const n = Math.min(10, figures.length);
process.stdout.write(
  `rss: before ${mb(start)} MB, min ${mb(Math.min(...figures))}, max ${mb(Math.max(...figures))}, ` +
    `mean of swaps 1-${n} ${mb(avg(figures.slice(0, n)))}, mean of the last ${n} ${mb(avg(figures.slice(-n)))}, ` +
    `last - first ${mb((figures.at(-1) ?? 0) - (figures[0] ?? 0))} MB\n`,
);
