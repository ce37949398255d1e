/**
 * `npm run bench:audit [-- ROWS]`: the audit query on a big store. Fills ROWS decisions (default 1,000,000)
 * into a temporary SQLite file shaped like a busy line (4 cameras, ~90 % OK, a part id on each decision),
 * then times every query shape the HTTP API can produce: p50 and p95 over many runs with varied values.
 * The shared machines are noisy: read the figures as orders of magnitude, and compare rows within one run.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { composeDecision, type Verdict } from '../agent/decision/index.js';
import { ErrorCodes } from '../agent/errors.js';
import { buildHttpApp } from '../agent/http/index.js';
import { type AuditFilter, AuditLog, AuditQuery, DecisionStore } from '../agent/store/index.js';
import { tempDir } from '../test/helpers/agent-process.js';
import { draft } from '../test/helpers/fixtures.js';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const CAMERAS = ['cam-1', 'cam-2', 'cam-3', 'cam-4'];
const T0 = 1_763_000_000_000;
/** One decision every 250 ms across the line: a million is about 3 days of a 4-camera cell. */
const STEP_MS = 250;
const RUNS = 200;

function verdictOf(i: number): Verdict {
  // deterministic, uncorrelated with the camera (i % 4): 90 % OK, 7 % NG, 2 % UNCERTAIN, 1 % ERROR
  // (the top bits of a multiplicative hash: its low bits would follow i % 4)
  const r = Math.floor(((Math.imul(i, 2_654_435_761) >>> 0) / 2 ** 32) * 100);
  return r < 90 ? 'OK' : r < 97 ? 'NG' : r < 99 ? 'UNCERTAIN' : 'ERROR';
}

function fill(store: DecisionStore): void {
  const db = store.db;
  db.pragma('synchronous = OFF'); // the fill is not what is measured
  const insert = db.prepare(
    `INSERT INTO decisions (seq, id, camera_id, part_id, verdict, triggered_at, decided_at, payload)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const seq = i + 1;
      const at = T0 + i * STEP_MS;
      const d = draft({
        cameraId: CAMERAS[i % CAMERAS.length] as string,
        verdict: verdictOf(i),
        partId: `P-${i}`,
        triggeredAt: at - 40,
        capturedAt: at - 38,
        decidedAt: at,
      });
      // ids in seq order, shaped like UUIDv7 (the real generator costs more than the insert)
      const id = `0190c3e1-${seq.toString(16).padStart(12, '0').slice(0, 4)}-7${seq.toString(16).padStart(15, '0').slice(4)}`;
      const payload = JSON.stringify(composeDecision(d, { id, seq, agentId: 'bench' }));
      insert.run(seq, id, d.cameraId, d.partId, d.verdict, d.triggeredAt, at, payload);
    }
  });
  const started = performance.now();
  for (let from = 0; from < ROWS; from += 50_000) batch(from, Math.min(ROWS, from + 50_000));
  db.pragma('synchronous = FULL');
  process.stdout.write(
    `filled ${ROWS} decisions in ${((performance.now() - started) / 1000).toFixed(1)} s, ${(store.stats().bytes / 1e6).toFixed(0)} MB\n`,
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

async function time(label: string, run: (i: number) => unknown | Promise<unknown>, runs = RUNS) {
  const ms: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const r = await run(i);
    ms.push(performance.now() - start);
    // a page counts its decisions, a single decision (detail) counts one
    if (r && typeof r === 'object')
      rows += 'decisions' in r ? (r as { decisions: unknown[] }).decisions.length : 1;
  }
  ms.sort((a, b) => a - b);
  const cells = `p50 ${percentile(ms, 0.5).toFixed(2).padStart(8)} ms   p95 ${percentile(ms, 0.95).toFixed(2).padStart(8)} ms`;
  process.stdout.write(`${label.padEnd(58)} ${cells}   rows ${(rows / runs).toFixed(0)}\n`);
}

const dir = tempDir('eva-bench-audit-');
const store = DecisionStore.open({
  path: join(dir, 'agent.db'),
  agentId: 'bench',
  log: pino({ level: 'silent' }),
});
try {
  fill(store);
  const audit = new AuditLog(store);
  const query = new AuditQuery(store, audit);
  const end = T0 + ROWS * STEP_MS;
  /** A random point in the recorded span, and a camera, both varied per run so no page is cached twice. */
  const at = (i: number) => T0 + Math.floor((((i * 104_729) % 1000) / 1000) * (ROWS * STEP_MS));
  const cam = (i: number) => CAMERAS[i % CAMERAS.length] as string;
  const page = (f: Omit<AuditFilter, 'limit'>, limit = 100) => query.page({ ...f, limit });
  const HOUR = 3_600_000;

  await time('newest 100, no filter', () => page({}));
  await time('camera', (i) => page({ camera: cam(i) }));
  await time('verdict=NG', () => page({ verdict: 'NG' }));
  await time('verdict=ERROR (1 %)', () => page({ verdict: 'ERROR' }));
  await time('camera + verdict=ERROR', (i) => page({ camera: cam(i), verdict: 'ERROR' }));
  await time('partId (exact)', (i) => page({ partId: `P-${(i * 4999) % ROWS}` }));
  await time('partId that does not exist', (i) => page({ partId: `X-${i}` }));
  await time('partId + camera (the part is on another camera)', (i) =>
    page({ partId: `P-${i * 4}`, camera: 'cam-2' }),
  );
  await time('from/to: one hour, anywhere in the span', (i) => page({ from: at(i), to: at(i) + HOUR }));
  await time('camera + from/to one hour', (i) => page({ camera: cam(i), from: at(i), to: at(i) + HOUR }));
  await time('camera + verdict=NG + from/to one day', (i) =>
    page({ camera: cam(i), verdict: 'NG', from: at(i), to: at(i) + 24 * HOUR }),
  );
  await time('verdict=ERROR + to (oldest decisions)', () => page({ verdict: 'ERROR', to: T0 + HOUR }));
  await time('from = after the last decision (empty)', () => page({ from: end + 1 }));
  await time('limit=1000, no filter', () => page({}, 1000), 50);
  let cursor: number | undefined;
  await time('next page by cursor (walking back 200 pages)', () => {
    const p = page({ camera: 'cam-1', ...(cursor !== undefined ? { before: cursor } : {}) });
    cursor = p.nextBefore ?? undefined;
    return p;
  });
  await time('detail by id (decision + outcomes + overrides)', (i) =>
    query.detail(String(1 + ((i * 7) % ROWS))),
  );

  // end to end through fastify (routing, validation, JSON of 100 decisions), no socket
  const app = buildHttpApp({
    status: () => ({}),
    readiness: () => ({ ready: true, reasons: [] }),
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    decisions: { list: (f) => query.page(f), get: (id) => query.detail(id) },
    request: async () => ({ status: 'error', code: ErrorCodes.INTERNAL, error: 'not in the benchmark' }),
    refused: (_n, _b, why) => ({ status: 'error', code: why.code, error: why.message }),
    token: undefined,
  });
  await time('HTTP GET /api/decisions?camera=..&verdict=NG (inject)', async (i) => {
    const res = await app.inject(`/api/decisions?camera=${cam(i)}&verdict=NG`);
    return res.json();
  });
  await app.close();

  // for contrast: what the same shapes cost ordered by seq over the old indexes (DecisionStore.list)
  await time(
    'contrast: old list() by seq, camera+ERROR, oldest day',
    (i) => ({
      decisions: store.list({ camera: cam(i), verdict: 'ERROR', from: T0, to: T0 + 24 * HOUR, limit: 100 }),
    }),
    20,
  );
} finally {
  store.close();
  rmSync(dir, { recursive: true, force: true });
}
