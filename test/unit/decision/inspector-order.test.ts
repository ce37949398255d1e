import t, { type Test } from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { type Decision, type Inferrer, Inspector } from '../../../agent/decision/index.js';
import type { Inference } from '../../../agent/inference/index.js';
import { AgentMetrics } from '../../../agent/metrics.js';
import { quietLog, tempStore } from '../../helpers/fixtures.js';
import { flush, ManualClock } from '../../helpers/manual-clock.js';

// A camera's parts are recorded in trigger order (seq order = trigger order), whatever order the model
// answers in: two workers, or a continuous camera with its next part already started (docs/capture.md).

function setup(t: Test, deadlineMs = 250) {
  const clock = new ManualClock();
  const { store } = tempStore();
  t.teardown(() => store.close());
  const pending: { frame: Frame; resolve: (i: Inference) => void }[] = [];
  const model: Inferrer = {
    labels: ['ok', 'scratch', 'dent'],
    infer: (frame) => new Promise((resolve) => pending.push({ frame, resolve })),
  };
  const answer = (ok: number): Inference => ({
    result: { task: 'classification', scores: { ok, scratch: 1 - ok, dent: 0 } },
    model: { id: 'washer', version: '1', sha256: 'ab', provider: 'cpu' },
    sourceWidth: 640,
    sourceHeight: 480,
    timings: { preprocess: 1, queue: 0, inference: 2 },
  });
  const recorded: string[] = [];
  const inspector = new Inspector({
    cameraId: 'cam-1',
    deadlineMs,
    rules: { minScore: 0.5, uncertainBelow: 0.2, ngClasses: ['scratch', 'dent'] },
    model,
    record: (d) => {
      recorded.push(d.partId ?? '?');
      return store.record(d);
    },
    clock,
    log: quietLog,
    metrics: new AgentMetrics(false),
  });
  const shot = (partId: string, data = Buffer.from(partId)) => {
    const frame: Frame = { kind: 'encoded', data, capturedAt: clock.now() };
    return inspector.inspect({ partId, triggeredAt: clock.now(), frame: Promise.resolve(frame) });
  };
  return { clock, store, pending, answer, recorded, shot };
}

t.test('a later part answered first is recorded after the earlier one', async (t) => {
  const s = setup(t);
  const first = s.shot('A');
  await s.clock.advance(10);
  const second = s.shot('B');
  await flush();
  t.equal(s.pending.length, 2, 'both parts are with the model');
  s.pending[1]?.resolve(s.answer(0.9)); // B's verdict is ready first
  await flush();
  t.same(s.recorded, [], 'B waits for A: nothing recorded yet');
  await s.clock.advance(5);
  s.pending[0]?.resolve(s.answer(0.1));
  const [a, b] = (await Promise.all([first, second])) as [Decision, Decision];
  t.same(s.recorded, ['A', 'B'], 'recorded in trigger order');
  t.same([a.seq, b.seq], [1, 2], 'seq order = trigger order');
  t.equal(b.verdict, 'OK', 'each keeps its own verdict');
  t.equal(a.verdict, 'NG');
  t.ok(b.decidedAt < a.decidedAt, 'B was decided first, and still recorded second');
});

t.test(
  'an earlier part that misses its deadline holds the next only until its fallback is recorded',
  async (t) => {
    const s = setup(t, 250);
    const triggeredAt = s.clock.now();
    const first = s.shot('A'); // the model never answers A in time
    await s.clock.advance(10);
    const second = s.shot('B');
    await flush();
    s.pending[1]?.resolve(s.answer(0.9));
    await s.clock.advance(239);
    t.same(s.recorded, [], 'B waits: A still has 1 ms');
    await s.clock.advance(1);
    const [a, b] = (await Promise.all([first, second])) as [Decision, Decision];
    t.same(s.recorded, ['A', 'B']);
    t.equal(a.verdict, 'UNCERTAIN');
    t.equal(a.decidedAt, triggeredAt + 250, 'A: its fallback at its own deadline');
    t.equal(b.verdict, 'OK', "B: the model's verdict, ready within its own deadline");
    t.same([a.seq, b.seq], [1, 2]);
  },
);

t.test('a part whose record fails does not hold back the next one', async (t) => {
  const clock = new ManualClock();
  const { store } = tempStore();
  t.teardown(() => store.close());
  let calls = 0;
  const inspector = new Inspector({
    cameraId: 'cam-1',
    deadlineMs: 100,
    rules: { minScore: 0.5, uncertainBelow: 0.2 },
    model: { labels: ['ok'], infer: () => new Promise(() => {}) },
    record: (d) => {
      if (calls++ === 0) throw new Error('the hold is full');
      return store.record(d);
    },
    clock,
    log: quietLog,
    metrics: new AgentMetrics(false),
  });
  const frame = Promise.resolve<Frame>({ kind: 'encoded', data: Buffer.from('x'), capturedAt: clock.now() });
  const first = inspector.inspect({ partId: 'A', triggeredAt: clock.now(), frame });
  const second = inspector.inspect({ partId: 'B', triggeredAt: clock.now(), frame });
  first.catch(() => {});
  await clock.advance(100);
  await t.rejects(first, { message: 'the hold is full' });
  t.equal((await second).partId, 'B', 'B is recorded');
});
