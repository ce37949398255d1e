import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { AlertInput } from '../../agent/alerts.js';
import type { ModelConfig } from '../../agent/config/index.js';
import type { Decision, Verdict } from '../../agent/decision/index.js';
import { EventBus } from '../../agent/events.js';
import { GroundTruth, ModelDeployment, rulesJudge, ShadowStore } from '../../agent/models/index.js';
import { AuditLog, DecisionStore } from '../../agent/store/index.js';
import { auditRequestHandlers } from '../../agent/sync/index.js';
import { tempDir } from './agent-process.js';
import { draft, quietLog, sampleLabels } from './fixtures.js';
import { ManualClock } from './manual-clock.js';
import { sampleFrame, washerConfig } from './model-versions.js';

export const RULES = { ngClasses: ['scratch', 'dent'], minScore: 0.5, uncertainBelow: 0.2 };

/** The demo frames' ground truth as a plant would send it: ok -> OK, scratch or dent -> NG. */
const TRUTH = new Map(sampleLabels().map(([file, label]) => [file, label === 'ok' ? 'OK' : 'NG'] as const));
export const SAMPLE_COUNT = TRUTH.size;

export function truthOf(n: number): 'OK' | 'NG' {
  return TRUTH.get(`${String(n).padStart(4, '0')}.jpg`) ?? 'OK';
}

/**
 * A model deployment on the path the agent gives it, with real parts: the washer model (and candidates)
 * on onnxruntime, a SQLite store, the shadow store, ground truth from the store and the event bus that
 * carries stored decisions and outcomes. `part(n)` judges sample frame n as a camera would (the camera's
 * rules, a stored decision, `DecisionStored`), and with `outcome` sends the plant's ground truth through
 * the `outcome` request handler. Time is a ManualClock: the watch window moves only when a test says so.
 */
export async function rolloutHarness(
  t: Test,
  opts: { config?: Partial<ModelConfig>; versionsDir?: string; clock?: ManualClock; storeDir?: string } = {},
) {
  const clock = opts.clock ?? new ManualClock();
  const dir = opts.storeDir ?? tempDir('eva-rollout-');
  const events = new EventBus(quietLog);
  const store = DecisionStore.open({
    path: join(dir, 'agent.db'),
    agentId: 'cell-1',
    log: quietLog,
    now: () => clock.now(),
  });
  const shadowStore = new ShadowStore(store, quietLog, events);
  await shadowStore.start();
  const audit = new AuditLog(store, () => clock.now(), events); // it tells OutcomeRecorded
  const requests = auditRequestHandlers(audit, events);
  const alerts: AlertInput[] = [];
  const versionsDir = opts.versionsDir ?? tempDir('eva-versions-');
  const d = new ModelDeployment(washerConfig(opts.config), {
    log: quietLog,
    clock,
    versionsDir,
    shadowStore,
    groundTruth: new GroundTruth(store),
    alerts: { raise: (a) => alerts.push(a) },
    events,
  });
  t.teardown(async () => {
    await d.stop();
    await shadowStore.stop();
    store.close();
  });
  await d.start();
  const judge = rulesJudge(RULES, () => d.labels);

  /** One part: sample frame `n` judged, stored and told on the bus; with `outcome`, ground truth sent. */
  async function part(n: number, o: { outcome?: boolean; cameraId?: string } = {}): Promise<Decision> {
    const frame = sampleFrame(((n - 1) % SAMPLE_COUNT) + 1);
    const inference = await d.infer(frame, undefined, o.cameraId ?? 'cam-1', judge);
    const verdict = (judge(inference).verdict ?? 'ERROR') as Verdict;
    const decision = store.record(
      draft({
        cameraId: o.cameraId ?? 'cam-1',
        verdict,
        model: inference.model,
        result: inference.result,
        image: { sha256: createHash('sha256').update(frame.data).digest('hex'), stored: false },
      }),
    );
    events.emit('DecisionStored', { decision });
    if (o.outcome) {
      await requests.outcome(
        { decisionId: decision.id, actual: truthOf(((n - 1) % SAMPLE_COUNT) + 1) },
        { via: 'mqtt' },
      );
    }
    return decision;
  }

  /** Waits until the shadow has dealt with `n` frames (compared, failed, skipped or throttled). */
  async function shadowSettled(n: number): Promise<void> {
    for (;;) {
      const s = d.snapshot().shadow;
      if (!s || s.frames + s.errors + s.skipped + s.throttled >= n) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Judges frames one by one, each waiting for the shadow, so every frame is shadowed. */
  async function shadowed(from: number, to: number, o: { outcome?: boolean } = {}): Promise<void> {
    const start = d.snapshot().shadow;
    const base = start ? start.frames + start.errors + start.skipped + start.throttled : 0;
    for (let i = from; i <= to; i++) {
      await part(i, o);
      await shadowSettled(base + i - from + 1);
    }
  }

  /** Waits (real time) until `cond` holds: an automatic rollback runs after the frame that decided it. */
  async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  return { d, clock, store, events, audit, shadowStore, alerts, versionsDir, part, shadowed, until, judge };
}
