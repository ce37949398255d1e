import t, { type Test } from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { type Inferrer, Inspector } from '../../../agent/decision/index.js';
import { AgentError, ErrorCodes } from '../../../agent/errors.js';
import type { Inference } from '../../../agent/inference/index.js';
import { AgentMetrics } from '../../../agent/metrics.js';
import { quietLog, tempStore } from '../../helpers/fixtures.js';
import { flush, ManualClock } from '../../helpers/manual-clock.js';

// The model is a stand-in whose answer the test releases by hand: these tests are about time and failure,
// which a real model cannot be told to produce on cue. Real models run in test/integration.
function controllableModel() {
  const pending: { resolve: (i: Inference) => void; reject: (e: Error) => void; signal?: AbortSignal }[] = [];
  const model: Inferrer = {
    labels: ['ok', 'scratch', 'dent'],
    infer: (_frame, signal) =>
      new Promise((resolve, reject) => pending.push({ resolve, reject, ...(signal ? { signal } : {}) })),
  };
  const answer = (scores: Record<string, number>): Inference => ({
    result: { task: 'classification', scores },
    model: { id: 'washer', version: '1', sha256: 'ab', provider: 'cpu' },
    sourceWidth: 640,
    sourceHeight: 480,
    timings: { preprocess: 1, queue: 0, inference: 2 },
  });
  return { model, pending, answer };
}

function setup(t: Test, deadlineMs = 250) {
  const clock = new ManualClock();
  const { store } = tempStore();
  t.teardown(() => store.close());
  const metrics = new AgentMetrics(false);
  const m = controllableModel();
  const inspector = new Inspector({
    cameraId: 'cam-1',
    deadlineMs,
    rules: { minScore: 0.5, uncertainBelow: 0.2, ngClasses: ['scratch', 'dent'] },
    model: m.model,
    record: (d) => store.record(d),
    clock,
    log: quietLog,
    metrics,
  });
  const frame: Frame = { kind: 'encoded', data: Buffer.from('jpeg'), capturedAt: clock.now() };
  return { clock, store, metrics, inspector, frame, ...m };
}

t.test('a verdict ready in time is recorded with the model, scores, partId and timings', async (t) => {
  const s = setup(t);
  const done = s.inspector.inspect({
    partId: 'A-77',
    triggeredAt: s.clock.now(),
    frame: Promise.resolve(s.frame),
  });
  await flush();
  s.pending[0]?.resolve(s.answer({ ok: 0.05, scratch: 0.9, dent: 0.05 }));
  const decision = await done;
  t.equal(decision.verdict, 'NG');
  t.equal(decision.partId, 'A-77');
  t.equal(decision.degraded, false);
  t.same(decision.result, { task: 'classification', scores: { ok: 0.05, scratch: 0.9, dent: 0.05 } });
  t.equal(decision.model?.provider, 'cpu');
  t.equal(decision.latencyMs.inference, 2);
  t.match(decision.image?.sha256, /^[0-9a-f]{64}$/);
  t.same(s.store.getById(decision.id), decision, 'stored');
});

t.test(
  'no verdict by the deadline: UNCERTAIN, degraded, at the deadline; the late result is not a second decision',
  async (t) => {
    const s = setup(t, 250);
    const triggeredAt = s.clock.now();
    const done = s.inspector.inspect({ partId: 'A-78', triggeredAt, frame: Promise.resolve(s.frame) });
    await flush();
    await s.clock.advance(249);
    t.equal(s.store.lastSeq(), 0, 'nothing recorded before the deadline');
    await s.clock.advance(1);
    const decision = await done;
    t.equal(decision.verdict, 'UNCERTAIN');
    t.equal(decision.degraded, true);
    t.equal(decision.decidedAt, triggeredAt + 250, 'recorded at the deadline');
    t.match(decision.reason, /no verdict within 250 ms \(inference\)/);
    t.ok(s.pending[0]?.signal?.aborted, 'the queued inference is told to give up');
    s.pending[0]?.resolve(s.answer({ ok: 0.99, scratch: 0.005, dent: 0.005 }));
    await flush();
    t.equal(s.store.lastSeq(), 1, 'still exactly one decision for the part');
    t.equal((await s.metrics.lateResults.get()).values[0]?.value, 1, 'the late result is counted');
    t.equal((await s.metrics.deadlineMisses.get()).values[0]?.value, 1);
  },
);

t.test('a frame that never comes gives the fallback with the stage in the reason', async (t) => {
  const s = setup(t, 100);
  const done = s.inspector.inspect({ triggeredAt: s.clock.now(), frame: new Promise<Frame>(() => {}) });
  await s.clock.advance(100);
  const decision = await done;
  t.equal(decision.verdict, 'UNCERTAIN');
  t.match(decision.reason, /waiting for a frame/);
  t.equal(decision.capturedAt, null);
});

t.test('a failed inference gives ERROR with the cause', async (t) => {
  const s = setup(t);
  const done = s.inspector.inspect({ triggeredAt: s.clock.now(), frame: Promise.resolve(s.frame) });
  await flush();
  s.pending[0]?.reject(
    new AgentError(ErrorCodes.FRAME_DECODE, 'frame could not be decoded: VipsJpeg: premature end'),
  );
  const decision = await done;
  t.equal(decision.verdict, 'ERROR');
  t.equal(decision.degraded, false);
  t.match(decision.reason, /frame could not be decoded/);
  t.equal(decision.result, null);
});

t.test('a camera error gives ERROR naming the camera as the cause', async (t) => {
  const s = setup(t);
  const decision = await s.inspector.inspect({
    triggeredAt: s.clock.now(),
    frame: Promise.reject(new Error('EIO')),
  });
  t.equal(decision.verdict, 'ERROR');
  t.match(decision.reason, /no frame from the camera: EIO/);
});
