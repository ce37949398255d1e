import t, { type Test } from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { type Inferrer, Inspector } from '../../../agent/decision/index.js';
import type { Inference } from '../../../agent/inference/index.js';
import { AgentMetrics } from '../../../agent/metrics.js';
import { quietLog, tempStore } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';

// The Inspector judges each task by its rules; the model is a stand-in returning a fixed result.
function inspectorFor(t: Test, result: Inference['result'], rules: object = {}) {
  const { store } = tempStore();
  t.teardown(() => store.close());
  const clock = new ManualClock();
  const model: Inferrer = {
    labels: ['scratch', 'dent'],
    infer: async () => ({
      result,
      model: { id: 'm', version: '1', sha256: 'ab', provider: 'cpu' },
      sourceWidth: 640,
      sourceHeight: 480,
      timings: { preprocess: 1, queue: 0, inference: 2 },
    }),
  };
  const inspector = new Inspector({
    cameraId: 'cam-1',
    deadlineMs: 1000,
    rules: { minScore: 0.5, uncertainBelow: 0.2, ...rules },
    model,
    record: (d) => store.record(d),
    clock,
    log: quietLog,
    metrics: new AgentMetrics(false),
  });
  const frame: Frame = { kind: 'encoded', data: Buffer.from('jpeg'), capturedAt: clock.now() };
  return () => inspector.inspect({ triggeredAt: clock.now(), frame: Promise.resolve(frame) });
}

t.test('a detection result is judged and published with its boxes', async (t) => {
  const result: Inference['result'] = {
    task: 'detection',
    detections: [{ label: 'dent', score: 0.91, box: [100, 80, 300, 240] }],
  };
  const d = await inspectorFor(t, result)();
  t.equal(d.verdict, 'NG');
  t.equal(d.reason, 'dent 0.91 at [100, 80, 300, 240]');
  t.same(d.result, result);
  const outside = await inspectorFor(t, result, { roi: [400, 0, 640, 480] })();
  t.equal(outside.verdict, 'OK');
});

t.test('an anomaly result is judged with the camera threshold, which the decision carries', async (t) => {
  const d = await inspectorFor(
    t,
    { task: 'anomaly', score: 0.62, threshold: 0.5 },
    { anomalyThreshold: 0.7 },
  )();
  t.equal(d.verdict, 'OK');
  t.same(d.result, { task: 'anomaly', score: 0.62, threshold: 0.7 });
});
