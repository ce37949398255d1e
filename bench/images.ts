/**
 * What keeping images costs: decisions/s stored with and without a kept frame, the JPEG encode of a raw
 * frame, and the disk budget's per-decision check. Run: node --import tsx bench/images.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { EventBus } from '../agent/events.js';
import { AgentMetrics } from '../agent/metrics.js';
import { systemClock } from '../agent/service.js';
import { frameJpeg } from '../agent/store/image-codec.js';
import { DecisionStore, Storage } from '../agent/store/index.js';
import { REPO, tempDir } from '../test/helpers/agent-process.js';
import { draft } from '../test/helpers/fixtures.js';

const log = pino({ level: 'silent' });
const sample = readFileSync(join(REPO, 'samples/washer/0001.jpg'));

function row(name: string, figures: Record<string, number>) {
  const parts = Object.entries(figures).map(([k, v]) => `${k} ${v.toFixed(v < 10 ? 2 : 0)}`);
  process.stdout.write(`${name.padEnd(52)} ${parts.join('  ')}\n`);
}

function open() {
  const dir = tempDir('eva-bench-img-');
  const store = DecisionStore.open({ path: join(dir, 'agent.db'), agentId: 'bench', log });
  const storage = Storage.open(
    store,
    { imagesDir: join(dir, 'images'), maxDiskMB: 100_000, retentionDays: 30, keepOkImageEvery: 0 },
    {
      clock: systemClock,
      log,
      metrics: new AgentMetrics(false),
      alerts: { raise: () => {} },
      events: new EventBus(log),
    },
  );
  return { store, storage };
}

async function records(name: string, count: number, verdict: 'OK' | 'NG', distinct: boolean) {
  const { store, storage } = open();
  const frames = Array.from({ length: count }, (_, i) => {
    if (!distinct) return sample;
    const copy = Buffer.from(sample);
    copy.writeUInt32BE(i, copy.length - 6); // a distinct file each time (bytes before the EOI marker)
    return copy;
  });
  const started = performance.now();
  for (const data of frames) {
    await storage.record(draft({ verdict }), {
      frame: { kind: 'encoded', data, capturedAt: Date.now() },
      dueAt: Date.now() + 1000,
    });
  }
  const s = (performance.now() - started) / 1000;
  row(name, { 'decisions/s': count / s, 'ms each': (s * 1000) / count });
  store.close();
}

process.stdout.write(
  `edge-vision-agent images bench, node ${process.version}, ${new Date().toISOString()}\n`,
);
await records('record OK, no image kept (synchronous=FULL)', 1000, 'OK', true);
await records('record NG + 640x480 JPEG frame (32 KB) kept', 1000, 'NG', true);

const raw = { kind: 'raw' as const, width: 1280, height: 720, channels: 3 as const, capturedAt: 0 };
const rawData = Buffer.alloc(1280 * 720 * 3);
for (let i = 0; i < rawData.length; i++) rawData[i] = (i * 7) % 251;
const times: number[] = [];
for (let i = 0; i < 30; i++) {
  const t0 = performance.now();
  await frameJpeg({ ...raw, data: rawData });
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
row('encode a raw 1280x720 frame to JPEG (sharp, q85)', { 'median ms': times[15] as number });

const { store, storage } = open();
for (let i = 0; i < 2000; i++) store.record(draft());
const n = 10_000;
const t0 = performance.now();
for (let i = 0; i < n; i++) storage.budget.usage();
row('disk budget check per decision (usage())', { 'us each': ((performance.now() - t0) * 1000) / n });
store.close();
