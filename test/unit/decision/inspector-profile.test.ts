import t from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { type Inferrer, type InspectionProfile, Inspector } from '../../../agent/decision/index.js';
import type { Inference } from '../../../agent/inference/index.js';
import { AgentMetrics } from '../../../agent/metrics.js';
import { quietLog, tempStore } from '../../helpers/fixtures.js';
import { flush, ManualClock } from '../../helpers/manual-clock.js';

// Stand-in models whose answers the test releases by hand: the test is about which recipe a part in flight
// belongs to, which a real model cannot be told to race on cue. Real models: test/integration/recipes.
function heldModel(id: string) {
  const pending: ((i: Inference) => void)[] = [];
  const model: Inferrer = {
    labels: ['ok', 'scratch', 'dent'],
    infer: () => new Promise((resolve) => pending.push(resolve)),
  };
  const answer = (scores: Record<string, number>): Inference => ({
    result: { task: 'classification', scores },
    model: { id, version: '1', sha256: 'ab', provider: 'cpu' },
    sourceWidth: 640,
    sourceHeight: 480,
    timings: { preprocess: 1, queue: 0, inference: 2 },
  });
  return { model, pending, answer };
}

t.test(
  'a recipe switched while a part is in flight: that part keeps its recipe, the next part gets the new one',
  async (t) => {
    const clock = new ManualClock();
    const { store } = tempStore();
    t.teardown(() => store.close());
    const a = heldModel('washer');
    const b = heldModel('washer-int8');
    const profileA: InspectionProfile = {
      recipe: 'product-a',
      model: a.model,
      rules: { minScore: 0.5, uncertainBelow: 0.2, ngClasses: ['scratch', 'dent'] },
      deadlineMs: 250,
    };
    const profileB: InspectionProfile = {
      recipe: 'product-b',
      model: b.model,
      rules: { minScore: 0.6, uncertainBelow: 0.2, ngClasses: ['dent'] },
      deadlineMs: 1_000,
    };
    let current = profileA;
    const inspector = new Inspector({
      cameraId: 'cam-1',
      ...profileA,
      profile: () => current,
      record: (d) => store.record(d),
      clock,
      log: quietLog,
      metrics: new AgentMetrics(false),
    });
    const frame: Frame = { kind: 'encoded', data: Buffer.from('jpeg'), capturedAt: clock.now() };
    const shot = (partId: string) => ({ partId, triggeredAt: clock.now(), frame: Promise.resolve(frame) });

    const first = inspector.inspect(shot('P-1'));
    await flush();
    current = profileB; // the switch, between two parts
    const second = inspector.inspect(shot('P-2'));
    await flush();
    t.equal(a.pending.length, 1, 'the first part went to product-a`s model');
    t.equal(b.pending.length, 1, 'the second part went to product-b`s model');
    const scratch = { ok: 0.05, scratch: 0.9, dent: 0.05 };
    a.pending[0]?.(a.answer(scratch));
    b.pending[0]?.(b.answer(scratch));
    t.match(
      await first,
      { recipe: 'product-a', verdict: 'NG', model: { id: 'washer' } },
      'product-a: a scratch is NG',
    );
    t.match(
      await second,
      { recipe: 'product-b', verdict: 'OK', model: { id: 'washer-int8' } },
      'product-b: it is not',
    );

    // the deadline is the part's recipe's too: 300 ms is past product-a's 250 but within product-b's 1000
    const third = inspector.inspect(shot('P-3'));
    await flush();
    await clock.advance(300);
    await flush();
    b.pending[1]?.(b.answer(scratch));
    t.match(await third, { recipe: 'product-b', verdict: 'OK', degraded: false });
  },
);
