import t, { type Test } from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { type Inferrer, Inspector } from '../../../agent/decision/index.js';
import type { Inference } from '../../../agent/inference/index.js';
import { quietLog } from '../../helpers/fixtures.js';
import { flush } from '../../helpers/manual-clock.js';
import { noiseJpeg, tempStorage } from '../../helpers/storage.js';

// The model is a stand-in answered by hand (as in inspector.test.ts): the subject is what the inspector hands
// the store, and when.
function setup(t: Test) {
  const s = tempStorage({ keepOkImageEvery: 0 });
  t.teardown(() => s.store.close());
  const pending: ((i: Inference) => void)[] = [];
  const model: Inferrer = {
    labels: ['ok', 'scratch'],
    infer: () => new Promise((resolve) => pending.push(resolve)),
  };
  const inspector = new Inspector({
    cameraId: 'cam-1',
    deadlineMs: 250,
    rules: { minScore: 0.5, uncertainBelow: 0.2, ngClasses: ['scratch'] },
    model,
    record: (draft, evidence) => s.storage.record(draft, evidence),
    clock: s.clock,
    log: quietLog,
    metrics: s.metrics,
  });
  const answer = (scores: Record<string, number>): Inference => ({
    result: { task: 'classification', scores },
    model: { id: 'm', version: '1', sha256: 'ab', provider: 'cpu' },
    sourceWidth: 64,
    sourceHeight: 64,
    timings: { preprocess: 1, queue: 0, inference: 1 },
  });
  return { s, inspector, pending, answer };
}

t.test('an NG verdict reaches the store with its frame, which is kept', async (t) => {
  const { s, inspector, pending, answer } = setup(t);
  const frame: Frame = { kind: 'encoded', data: await noiseJpeg(32), capturedAt: s.clock.now() };
  const done = inspector.inspect({ triggeredAt: s.clock.now(), frame: Promise.resolve(frame) });
  await flush();
  pending[0]?.(answer({ ok: 0.1, scratch: 0.9 }));
  const d = await done;
  t.equal(d.verdict, 'NG');
  t.equal(d.image?.stored, true);
  const got = s.storage.image(d, 'frame');
  t.ok(got.found && got.data.equals(frame.data));
});

t.test('a deadline fallback (UNCERTAIN) keeps the frame the model was too slow on', async (t) => {
  const { s, inspector } = setup(t);
  const frame: Frame = { kind: 'encoded', data: await noiseJpeg(32), capturedAt: s.clock.now() };
  const done = inspector.inspect({ triggeredAt: s.clock.now(), frame: Promise.resolve(frame) });
  await flush();
  await s.clock.advance(250);
  const d = await done;
  t.equal(d.verdict, 'UNCERTAIN');
  t.equal(d.degraded, true);
  t.equal(d.image?.stored, true, 'a person can see what the model was judging');
  t.equal(d.decidedAt, s.clock.now(), 'still recorded at the deadline');
});

t.test('an OK verdict with keepOkImageEvery 0 keeps nothing', async (t) => {
  const { s, inspector, pending, answer } = setup(t);
  const frame: Frame = { kind: 'encoded', data: await noiseJpeg(32), capturedAt: s.clock.now() };
  const done = inspector.inspect({ triggeredAt: s.clock.now(), frame: Promise.resolve(frame) });
  await flush();
  pending[0]?.(answer({ ok: 0.95, scratch: 0.05 }));
  const d = await done;
  t.equal(d.verdict, 'OK');
  t.equal(d.image?.stored, false);
  t.equal(walk(s), 0);
});

function walk(s: ReturnType<typeof tempStorage>): number {
  return s.storage.images.files;
}
