/**
 * `npm run bench:shadow`: what a slow shadow costs the line. The washer model judges sample frames at a
 * steady pace (one every BENCH_PACE_MS, 100 by default: a 10 parts/s line) three times: alone, beside the
 * slow fixture in shadow with no effective budget (shadowBudget 10), and beside it at the default budget
 * (1: the shadow spends at most the active version's inference time). Prints the active version's time
 * per frame (p50, p95: the deadline path, as the deployment measures it) and what the shadow did.
 * BENCH_FRAMES changes the count (200).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import type { Frame } from '../agent/capture/index.js';
import { ModelDeployment } from '../agent/models/index.js';
import { systemClock } from '../agent/service.js';
import { REPO, SAMPLES, tempDir } from '../test/helpers/agent-process.js';
import { slowWasherVersion, washerConfig } from '../test/helpers/model-versions.js';

const FRAMES = Number(process.env.BENCH_FRAMES ?? 200);
const PACE_MS = Number(process.env.BENCH_PACE_MS ?? 100);
const log = pino({ level: 'silent' });
const files = readdirSync(SAMPLES).filter((f) => f.endsWith('.jpg'));
const frames: Frame[] = files.map((f) => ({
  kind: 'encoded',
  data: readFileSync(join(SAMPLES, f)),
  capturedAt: 0,
}));
const judge = () => ({ verdict: 'OK', top: 'ok' });
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)] ?? 0;

async function run(name: string, shadowBudget: number | null): Promise<void> {
  const d = new ModelDeployment(
    washerConfig({
      path: join(REPO, 'models/washer/model.onnx'),
      intraOpThreads: 1,
      shadowBudget: shadowBudget ?? 1,
    }),
    { log, clock: systemClock, versionsDir: tempDir('eva-bench-shadow-') },
  );
  await d.start();
  if (shadowBudget !== null) await d.install(slowWasherVersion('2'));
  for (let i = 0; i < 10; i++) await d.infer(frames[i % frames.length] as Frame); // warm
  const ms: number[] = [];
  const start = performance.now();
  for (let i = 0; i < FRAMES; i++) {
    const due = start + i * PACE_MS;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    await d.infer(frames[i % frames.length] as Frame, undefined, 'cam-1', judge);
    ms.push(performance.now() - t0);
  }
  const s = d.snapshot().shadow;
  await d.stop();
  ms.sort((a, b) => a - b);
  const shadow = s
    ? `shadowed ${s.frames}, skipped ${s.skipped}, throttled ${s.throttled}, shadow mean ${s.shadowMsMean?.toFixed(0)} ms`
    : '';
  console.log(
    `${name.padEnd(34)} active p50 ${pct(ms, 0.5).toFixed(1)} ms, p95 ${pct(ms, 0.95).toFixed(1)} ms  ${shadow}`,
  );
}

await run('no shadow', null);
await run('slow shadow, shadowBudget 10', 10);
await run('slow shadow, shadowBudget 1', 1);
await run('no shadow (again)', null);
process.exit(0);
