import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Alerts } from '../../agent/alerts.js';
import { type DriftConfig, defaultDriftConfig } from '../../agent/config/index.js';
import { type Decision, judge } from '../../agent/decision/index.js';
import { DriftMonitor } from '../../agent/drift/index.js';
import { EventBus } from '../../agent/events.js';
import { type ImageStats, ModelRunner, type TaskResult } from '../../agent/inference/index.js';
import { AgentMetrics } from '../../agent/metrics.js';
import type { DecisionStore } from '../../agent/store/index.js';
import { SAMPLES, WASHER_MODEL } from './agent-process.js';
import { quietLog, sampleLabels, tempStore } from './fixtures.js';
import { ManualClock } from './manual-clock.js';

/**
 * Generated frame streams for drift tests: the demo washer frames (samples/washer), perturbed with sharp
 * (brightness, blur, colour cast, small jitter), run once through the real washer model, kept as what a
 * stored decision carries (result, verdict, latency, image statistics). A stream is then drawn from these
 * pools by a seeded generator, so hundreds of windows cost no inference.
 */
export interface Judged {
  label: string;
  result: TaskResult;
  verdict: Decision['verdict'];
  latencyMs: number;
  imageStats: ImageStats;
}

export interface Perturbation {
  /** multiply every channel (exposure) */
  gain?: number;
  /** per-channel gain (a colour cast) */
  cast?: [number, number, number];
  /** gaussian blur sigma in source pixels (defocus) */
  blur?: number;
}

export const SAMPLE_MODEL_SHA = '7f43618e8a397545681199200760db63c041a60f4738d09d1ac8eb7de6b33080';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The washer model, started once per test file. */
export async function washerRunner(): Promise<ModelRunner> {
  const runner = new ModelRunner(
    { id: 'washer', path: WASHER_MODEL, providers: ['cpu'], workers: 1, intraOpThreads: 1 },
    quietLog,
  );
  await runner.start();
  return runner;
}

/**
 * Every sample frame under `p`, `variants` times with a small random jitter each (exposure +-3 %, a few
 * grey levels of offset, JPEG quality 80-95: what a stable line's frames vary by), judged by the model.
 */
export async function judgedPool(
  runner: ModelRunner,
  p: Perturbation,
  variants: number,
  seed: number,
): Promise<Judged[]> {
  const random = rng(seed);
  const out: Judged[] = [];
  for (const [file, label] of sampleLabels()) {
    const source = readFileSync(join(SAMPLES, file));
    for (let v = 0; v < variants; v++) {
      const jitter = 0.97 + 0.06 * random();
      const offset = -3 + 6 * random();
      const gain = (p.gain ?? 1) * jitter;
      const cast = p.cast ?? [1, 1, 1];
      let img = sharp(source).linear(
        cast.map((c) => c * gain),
        [offset, offset, offset],
      );
      if (p.blur) img = img.blur(p.blur);
      const data = await img.jpeg({ quality: 80 + Math.floor(16 * random()) }).toBuffer();
      const inference = await runner.infer({ kind: 'encoded', data, capturedAt: 0 });
      const { outcome, result } = judge(
        inference.result,
        { minScore: 0.5, uncertainBelow: 0.2 },
        runner.labels,
      );
      if (!inference.imageStats) throw new Error('no image statistics from the worker');
      out.push({
        label,
        result,
        verdict: outcome.verdict,
        latencyMs: inference.timings.preprocess + inference.timings.inference,
        imageStats: inference.imageStats,
      });
    }
  }
  return out;
}

/** Draws frames from pools with class weights (by true label), seeded. */
export class StreamDrawer {
  private readonly random: () => number;

  constructor(seed: number) {
    this.random = rng(seed);
  }

  draw(pool: readonly Judged[], weights: Readonly<Record<string, number>>): Judged {
    const total = Object.values(weights).reduce((a, b) => a + b, 0);
    let u = this.random() * total;
    let label = Object.keys(weights)[0] as string;
    for (const [l, w] of Object.entries(weights)) {
      u -= w;
      if (u <= 0) {
        label = l;
        break;
      }
    }
    const candidates = pool.filter((j) => j.label === label);
    return candidates[Math.floor(this.random() * candidates.length)] as Judged;
  }

  chance(p: number): boolean {
    return this.random() < p;
  }
}

/**
 * A DriftMonitor for one camera on a manual clock, a real SQLite store and the real Alerts service; frames
 * go in as stored decisions on the event bus, as the agent's Storage tells them.
 */
export class DriftHarness {
  readonly clock = new ManualClock();
  readonly events = new EventBus(quietLog);
  readonly alerts = new Alerts({ clock: this.clock, log: quietLog, events: this.events });
  readonly metrics = new AgentMetrics(false);
  readonly store: DecisionStore;
  readonly monitor: DriftMonitor;
  readonly raised: { code: string; active: boolean; message: string; at: number }[] = [];
  readonly reports: import('../../agent/drift/index.js').DriftReport[] = [];
  private seq = 0;

  constructor(
    config: Partial<DriftConfig> = {},
    readonly msPerFrame = 500,
  ) {
    this.store = tempStore('drift-test').store;
    this.monitor = new DriftMonitor(
      { ...defaultDriftConfig(), ...config },
      {
        agentId: 'drift-test',
        cameras: [{ id: 'cam-1', model: 'washer' }],
        store: this.store,
        clock: this.clock,
        log: quietLog,
        events: this.events,
        alerts: this.alerts,
        registry: this.metrics.registry,
        scheduler: { schedule: () => ({ stop: () => {} }) },
      },
    );
    this.events.on(
      'AlertChanged',
      ({ alert }) => this.raised.push({ ...alert, at: this.windowsSoFar() }),
      'test',
    );
    this.events.on('DriftReported', ({ report }) => this.reports.push(report), 'test');
  }

  async start(): Promise<void> {
    await this.monitor.start();
  }

  async stop(): Promise<void> {
    await this.monitor.stop();
    this.store.close();
  }

  windowsSoFar(): number {
    return this.reports.length;
  }

  /**
   * One stored decision of cam-1 for this judged frame (`over` replaces fields of it). Time moves
   * `msPerFrame` per decision; the clock (and what waits on it, like a closed window's judgement) is
   * advanced every FEED_BATCH decisions, which keeps hundreds of windows fast.
   */
  async feed(j: Judged, over: Partial<Decision> = {}): Promise<Decision> {
    this.seq++;
    if (this.seq % FEED_BATCH === 0) await this.clock.advance(FEED_BATCH * this.msPerFrame);
    const now = this.clock.now();
    const decision: Decision = {
      schema: 1,
      id: `d-${this.seq}`,
      seq: this.seq,
      agentId: 'drift-test',
      cameraId: 'cam-1',
      triggeredAt: now,
      capturedAt: now,
      decidedAt: now,
      verdict: j.verdict,
      reason: 'generated',
      degraded: false,
      historical: false,
      model: { id: 'washer', version: '1', sha256: SAMPLE_MODEL_SHA, provider: 'cpu' },
      result: j.result,
      latencyMs: { queue: 0, preprocess: 0, inference: 0, total: j.latencyMs },
      image: null,
      ...over,
    };
    this.events.emit('DecisionStored', { decision, imageStats: j.imageStats });
    return decision;
  }

  /** The plant's finding for a decision, as the audit log tells it. */
  outcome(decision: Decision, actual: 'OK' | 'NG'): void {
    this.events.emit('OutcomeRecorded', {
      decisionId: decision.id,
      cameraId: decision.cameraId,
      verdict: decision.verdict,
      actual,
      receivedAt: this.clock.now(),
    });
  }

  /** Asks for a live baseline of `n` decisions, feeds them, and waits until it is built and in use. */
  async baselineFrom(n: number, next: () => Judged): Promise<void> {
    this.monitor.requestBaseline('cam-1', n);
    for (let i = 0; i < n; i++) await this.feed(next());
    for (let i = 0; i < 500 && !this.monitor.snapshot().cameras[0]?.baseline; i++) {
      await new Promise((r) => setImmediate(r));
    }
    if (!this.monitor.snapshot().cameras[0]?.baseline) throw new Error('baseline not built');
    // the window that was open while the baseline was built was dropped: start counting from here
    this.raised.length = 0;
    this.reports.length = 0;
  }

  active(): string[] {
    return this.alerts.active().map((a) => a.code);
  }
}

/** Decisions between clock advances in DriftHarness.feed (windows are far longer). */
const FEED_BATCH = 20;

export const BASE_MIX = { ok: 24, scratch: 6, dent: 6 } as const;
