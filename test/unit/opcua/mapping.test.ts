import t from 'tap';
import type { CameraStatus } from '../../../agent/capture/index.js';
import { composeDecision } from '../../../agent/decision/index.js';
import { resultFieldsOf, resultStateOf, visionStateOf } from '../../../agent/opcua/index.js';
import { draft } from '../../helpers/fixtures.js';

const status = (over: Partial<CameraStatus>): CameraStatus => ({
  id: 'cam-1',
  state: 'running',
  enabled: true,
  trigger: 'plc',
  source: 'rtsp',
  model: 'washer',
  fps: 10,
  lastFrameAgeMs: 10,
  inflight: 0,
  framesSkipped: 0,
  reconnects: 0,
  reconnectsLastHour: 0,
  stallsLastHour: 0,
  connection: null,
  lastError: null,
  ...over,
});

t.test('camera states map onto the vision state machine', async (t) => {
  t.equal(visionStateOf(status({ state: 'running' })), 'Operational');
  t.equal(visionStateOf(status({ state: 'starting' })), 'Preoperational');
  t.equal(visionStateOf(status({ state: 'waiting-for-model' })), 'Preoperational');
  t.equal(visionStateOf(status({ state: 'disabled', enabled: false })), 'Halted');
  t.equal(visionStateOf(status({ state: 'stopped' })), 'Halted');
  const down = { state: 'down' as const, reason: 'no frame for 20 s', streamFps: 0 };
  t.equal(visionStateOf(status({ connection: down })), 'Error', 'a stream the watchdog calls down');
  t.equal(visionStateOf(status({}), false), 'Error', 'a source whose last capture failed');
  t.equal(
    visionStateOf(status({ state: 'disabled', connection: down })),
    'Halted',
    'halted wins over a dead stream',
  );
});

t.test('a decision as a Machine Vision result', async (t) => {
  t.equal(resultStateOf({ verdict: 'NG', degraded: false }), 1, 'the model judged it: Completed');
  t.equal(resultStateOf({ verdict: 'UNCERTAIN', degraded: true }), 3, 'the deadline fallback: Aborted');
  t.equal(resultStateOf({ verdict: 'ERROR', degraded: false }), 4, 'Failed');
  const d = composeDecision(
    draft({ partId: 'A-1', recipe: 'product-b', triggeredAt: 1_000, capturedAt: 1_020, decidedAt: 1_060 }),
    { id: 'd-1', seq: 7, agentId: 'cell-1' },
  );
  const f = resultFieldsOf(d);
  t.match(f, {
    resultId: 'd-1',
    partId: 'A-1',
    recipe: 'product-b',
    configuration: 'washer@1',
    jobId: '7',
    resultState: 1,
    processingTimes: { acquisitionDuration: 20, processingDuration: 40 },
    content: ['OK', 'top class ok 0.97', false, /"scores"/],
  });
});
