import t, { type Test } from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { type FrameGate, Inspector } from '../../../agent/decision/index.js';
import type { Inference } from '../../../agent/inference/index.js';
import { AgentMetrics } from '../../../agent/metrics.js';
import { quietLog, tempStore } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';

// drift.gate: the one hook drift has into the decision path (docs/drift.md, docs/architecture.md)
const inference: Inference = {
  result: { task: 'classification', scores: { ok: 0.97, scratch: 0.02, dent: 0.01 } },
  model: { id: 'washer', version: '1', sha256: 'ab', provider: 'cpu' },
  sourceWidth: 640,
  sourceHeight: 480,
  timings: { preprocess: 1, queue: 0, inference: 2 },
  imageStats: {
    brightness: 12,
    contrast: 3,
    sharpness: 2,
    meanR: 12,
    meanG: 12,
    meanB: 12,
    saturation: 0,
    clippedDark: 0.2,
    clippedBright: 0,
  },
};

function setup(t: Test, gate?: FrameGate) {
  const clock = new ManualClock();
  const { store } = tempStore();
  t.teardown(() => store.close());
  const inspector = new Inspector({
    cameraId: 'cam-1',
    deadlineMs: 250,
    rules: { minScore: 0.5, uncertainBelow: 0.2, ngClasses: ['scratch', 'dent'] },
    model: { labels: ['ok', 'scratch', 'dent'], infer: async () => inference },
    record: (d) => store.record(d),
    gate,
    clock,
    log: quietLog,
    metrics: new AgentMetrics(false),
  });
  const frame: Frame = { kind: 'encoded', data: Buffer.from('jpeg'), capturedAt: clock.now() };
  return { clock, inspector, frame };
}

t.test('an unfit frame gets a degraded UNCERTAIN with the reason, not a confident OK', async (t) => {
  const seen: Inference[] = [];
  const s = setup(t, {
    unfit: (i) => {
      seen.push(i);
      return 'image too dark: brightness 12 vs baseline 96-140';
    },
  });
  const d = await s.inspector.inspect({ triggeredAt: s.clock.now(), frame: Promise.resolve(s.frame) });
  t.equal(d.verdict, 'UNCERTAIN');
  t.equal(d.degraded, true);
  t.equal(
    d.reason,
    'unfit to judge: image too dark: brightness 12 vs baseline 96-140 (model said OK: top class ok 0.97)',
  );
  t.same(d.result, inference.result, "the model's scores are kept");
  t.equal(seen[0]?.imageStats?.brightness, 12, 'the gate saw the frame statistics');
});

t.test('a fit frame, no gate, or a gate that fails: the model verdict stands', async (t) => {
  for (const gate of [
    { unfit: () => undefined },
    undefined,
    {
      unfit: () => {
        throw new Error('drift broke');
      },
    },
  ]) {
    const s = setup(t, gate);
    const d = await s.inspector.inspect({ triggeredAt: s.clock.now(), frame: Promise.resolve(s.frame) });
    t.equal(d.verdict, 'OK');
    t.equal(d.degraded, false);
    t.equal(d.reason, 'top class ok 0.97');
  }
});
