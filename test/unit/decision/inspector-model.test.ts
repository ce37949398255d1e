import t, { type Test } from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { type Inferrer, Inspector } from '../../../agent/decision/index.js';
import { AgentError, ErrorCodes } from '../../../agent/errors.js';
import type { ModelRef } from '../../../agent/inference/index.js';
import { AgentMetrics } from '../../../agent/metrics.js';
import { quietLog, tempStore } from '../../helpers/fixtures.js';
import { flush, ManualClock } from '../../helpers/manual-clock.js';

// Every decision names the model version it was meant for: an ERROR or a deadline fallback with
// `model: null` cannot be traced to the version that failed (issue 14). The stand-in model tells which
// version took the frame, as ModelDeployment does, then fails or never answers.

const V2: ModelRef = { id: 'washer', version: '2', sha256: 'cd', provider: 'cpu' };
const V1: ModelRef = { id: 'washer', version: '1', sha256: 'ab', provider: 'cpu' };

function setup(t: Test, infer: Inferrer['infer']) {
  const clock = new ManualClock();
  const { store } = tempStore();
  t.teardown(() => store.close());
  const model: Inferrer = { labels: ['ok', 'scratch', 'dent'], infer, current: () => V1 };
  const inspector = new Inspector({
    cameraId: 'cam-1',
    deadlineMs: 250,
    rules: { minScore: 0.5, uncertainBelow: 0.2 },
    model,
    record: (d) => store.record(d),
    clock,
    log: quietLog,
    metrics: new AgentMetrics(false),
  });
  const frame: Frame = { kind: 'encoded', data: Buffer.from('jpeg'), capturedAt: clock.now() };
  return { clock, inspector, frame };
}

t.test('an ERROR decision names the version whose inference failed', async (t) => {
  const s = setup(t, async (_frame, _signal, took) => {
    took?.(V2);
    throw new AgentError(ErrorCodes.INFERENCE_FAILED, 'output "scores" contains NaN');
  });
  const d = await s.inspector.inspect({ triggeredAt: s.clock.now(), frame: Promise.resolve(s.frame) });
  t.equal(d.verdict, 'ERROR');
  t.same(d.model, V2);
});

t.test('a deadline fallback names the version that was still judging', async (t) => {
  const s = setup(t, (_frame, _signal, took) => {
    took?.(V2);
    return new Promise(() => {});
  });
  const done = s.inspector.inspect({ triggeredAt: s.clock.now(), frame: Promise.resolve(s.frame) });
  await flush();
  await s.clock.advance(250);
  const d = await done;
  t.equal(d.verdict, 'UNCERTAIN');
  t.equal(d.degraded, true);
  t.same(d.model, V2);
});

t.test('an ERROR before the model saw a frame names the version frames go to now', async (t) => {
  const s = setup(t, async () => {
    throw new Error('not reached');
  });
  const d = await s.inspector.inspect({
    triggeredAt: s.clock.now(),
    frame: Promise.reject(new Error('camera unreachable')),
  });
  t.equal(d.verdict, 'ERROR');
  t.same(d.model, V1);
});
