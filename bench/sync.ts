/**
 * `npm run bench:sync` (`node --import tsx bench/sync.ts`): the store-and-forward path against Debian's
 * mosquitto, started here on a free loopback port.
 *  1. decisions/s stored: `store.record` (decision + outbox row, one transaction) with synchronous=FULL
 *     (the agent's setting: one WAL fsync per decision) and NORMAL for comparison;
 *  2. a backlog of BACKLOG (default 100k) decisions drained to mosquitto: msgs/s until a subscriber has
 *     every seq (it checks none is missing and counts duplicates);
 *  3. live decision latency (store.record -> received by the subscriber) while the backlog drains, at
 *     LIVE_HZ live decisions a second, p50/p95/p99; then COMPARE_SECONDS of draining the same backlog with
 *     other backlog shares, side by side (msgs/s then counts what arrived in that time).
 * The subscriber runs in this process (as does the publisher), so latencies include its event-loop turns.
 * Machines are shared and noisy: compare ratios within a run, not absolute numbers across runs.
 */
import { copyFileSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import pino from 'pino';
import { AgentMetrics } from '../agent/metrics.js';
import { systemClock } from '../agent/service.js';
import { DecisionStore } from '../agent/store/index.js';
import { JsonChannel, MqttLink, OutboxPublisher } from '../agent/sync/index.js';
import { startMosquitto } from '../test/helpers/brokers.js';
import { draft } from '../test/helpers/fixtures.js';

const log = pino({ level: 'silent' });
const BACKLOG = Number(process.env.BACKLOG ?? 100_000);
const COMPARE_SECONDS = Number(process.env.COMPARE_SECONDS ?? 10);
const STORE_SECONDS = Number(process.env.STORE_SECONDS ?? 3);
const LIVE_HZ = Number(process.env.LIVE_HZ ?? 20);
const MAX_IN_FLIGHT = Number(process.env.MAX_IN_FLIGHT ?? 32);
const STALL_MS = 30_000;

function row(label: string, values: Record<string, string | number>) {
  const cells = Object.entries(values).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(1) : v}`);
  process.stdout.write(`${label.padEnd(46)} ${cells.join('  ')}\n`);
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const dir = mkdtempSync(join(tmpdir(), 'eva-bench-sync-'));

function storeRate(synchronous: 'FULL' | 'NORMAL'): void {
  const path = join(dir, `rate-${synchronous}.db`);
  const store = DecisionStore.open({ path, agentId: 'bench', log, synchronous });
  const d = draft();
  let n = 0;
  const t0 = performance.now();
  const until = t0 + STORE_SECONDS * 1000;
  while (performance.now() < until) {
    store.record({ ...d, decidedAt: Date.now() });
    n++;
  }
  const s = (performance.now() - t0) / 1000;
  store.close();
  row(`store.record synchronous=${synchronous}`, { 'decisions/s': n / s, 'ms/decision': (s * 1000) / n, n });
}

/** A template database holding BACKLOG unsent decisions (NORMAL to fill it fast; the drain uses FULL). */
function prefill(count: number, name: string): string {
  const path = join(dir, name);
  const store = DecisionStore.open({ path, agentId: 'bench', log, synchronous: 'NORMAL' });
  const d = draft();
  // one outer transaction (each record becomes a savepoint): the fill is setup, not what is measured
  const db = Reflect.get(store, 'db') as { transaction(fn: () => void): () => void };
  db.transaction(() => {
    for (let i = 0; i < count; i++) store.record({ ...d, decidedAt: Date.now() });
  })();
  store.close();
  return path;
}

interface DrainResult {
  msgsPerSec: number;
  seconds: number;
  received: number;
  missing: number;
  duplicates: number;
  live: number[];
}

async function drain(
  url: string,
  template: string,
  backlog: number,
  share: number,
  seconds?: number,
): Promise<DrainResult> {
  const path = join(dir, `drain-${share}-${backlog}.db`);
  copyFileSync(template, path);
  const store = DecisionStore.open({ path, agentId: 'bench', log, synchronous: 'FULL' });
  const seen = new Uint8Array(backlog + 100_000);
  let unique = 0;
  let backlogReceived = 0;
  let duplicates = 0;
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  const sub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `bench-sub-${share}` });
  sub.on('message', (_topic, payload) => {
    const now = performance.now();
    const seq = (JSON.parse(payload.toString('utf8')) as { seq: number }).seq;
    if (seen[seq]) {
      duplicates++;
      return;
    }
    seen[seq] = 1;
    unique++;
    if (seq <= backlog) backlogReceived++;
    const t0 = sentAt.get(seq);
    if (t0 !== undefined) latencies.push(now - t0);
  });
  await sub.subscribeAsync('bench/decisions/#', { qos: 1 });

  const deps = { clock: systemClock, log, metrics: new AgentMetrics(false) };
  const config = {
    url,
    format: 'json' as const,
    publishTimeoutMs: 10_000,
    maxInFlight: MAX_IN_FLIGHT,
    backlogShare: share,
    backlogRatePerSec: 0,
    reconnectMinMs: 200,
    reconnectMaxMs: 1_000,
  };
  const link = new MqttLink(config, 'bench', 'bench', deps);
  const publisher = new OutboxPublisher(
    store,
    new JsonChannel(link),
    { maxInFlight: MAX_IN_FLIGHT, backlogShare: share },
    deps,
  );
  await publisher.start();
  const t0 = performance.now();
  await link.start();
  // live decisions at LIVE_HZ while the backlog drains
  const d = draft();
  let liveCount = 0;
  const liveTimer = setInterval(() => {
    const at = performance.now();
    const decision = store.record({ ...d, decidedAt: Date.now() });
    sentAt.set(decision.seq, at);
    liveCount++;
    publisher.notify();
  }, 1000 / LIVE_HZ);
  const stopAt = seconds === undefined ? Number.POSITIVE_INFINITY : t0 + seconds * 1000;
  await new Promise<void>((resolve) => {
    let last = -1;
    let lastChange = performance.now();
    const check = setInterval(() => {
      if (unique !== last) {
        last = unique;
        lastChange = performance.now();
      }
      // a stall (nothing new for STALL_MS) ends the run: the report then shows what is missing
      const stalled = performance.now() - lastChange > STALL_MS;
      if (backlogReceived >= backlog || performance.now() >= stopAt || stalled) {
        clearInterval(check);
        resolve();
      }
    }, 5);
  });
  const elapsed = (performance.now() - t0) / 1000;
  const received = backlogReceived;
  clearInterval(liveTimer);
  // let the last live ones land, then count what is missing
  const total = backlog + liveCount;
  const until = performance.now() + 5_000;
  const liveLanded = () => [...sentAt.keys()].every((seq) => seen[seq] === 1);
  const done = () => liveLanded() && (seconds !== undefined || unique >= total);
  while (!done() && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
  let missing = 0;
  // a timed run stops mid-backlog: only a complete drain can be checked for gaps
  if (seconds === undefined) for (let seq = 1; seq <= total; seq++) if (!seen[seq]) missing++;
  await publisher.stop();
  await link.stop();
  await sub.endAsync();
  store.close();
  rmSync(path, { force: true });
  return {
    msgsPerSec: received / elapsed,
    seconds: elapsed,
    received,
    missing,
    duplicates,
    live: latencies.sort((a, b) => a - b),
  };
}

function report(label: string, r: DrainResult) {
  row(label, {
    received: r.received,
    'msgs/s': r.msgsPerSec,
    s: r.seconds,
    missing: r.missing,
    dups: r.duplicates,
  });
  row('  live latency while draining (ms)', {
    n: r.live.length,
    p50: pct(r.live, 50),
    p95: pct(r.live, 95),
    p99: pct(r.live, 99),
    max: r.live.at(-1) ?? Number.NaN,
  });
}

async function main() {
  const fs = statfsSync(dir);
  process.stdout.write(
    `bench:sync  node ${process.version}  store in ${dir} (fs type 0x${fs.type.toString(16)})  maxInFlight=${MAX_IN_FLIGHT}  live=${LIVE_HZ}/s  loadavg=${loadavg()[0]?.toFixed(1)}\n`,
  );
  storeRate('FULL');
  storeRate('NORMAL');

  // the subscriber here lags a fast drain: mosquitto's default queue (1000 QoS 1 messages per client) would
  // drop what the agent delivered, and the bench would count the broker's limit as a missing decision
  const broker = await startMosquitto({ extraConfig: 'max_queued_messages 0' });
  try {
    const t0 = performance.now();
    const big = prefill(BACKLOG, 'backlog.db');
    row('prefill (NORMAL)', { decisions: BACKLOG, s: (performance.now() - t0) / 1000 });
    report(`drain ${BACKLOG} to mosquitto, backlogShare=0.5`, await drain(broker.url, big, BACKLOG, 0.5));
    if (COMPARE_SECONDS > 0) {
      for (const share of [1, 0.5, 0.1]) {
        const r = await drain(broker.url, big, BACKLOG, share, COMPARE_SECONDS);
        report(`${COMPARE_SECONDS} s of draining, backlogShare=${share}`, r);
      }
    }
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
