import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Frame } from '../../agent/capture/index.js';
import { Inspector } from '../../agent/decision/index.js';
import { ModelRunner } from '../../agent/inference/index.js';
import { AgentMetrics } from '../../agent/metrics.js';
import { SAMPLES, tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { quietLog, tempStore } from '../helpers/fixtures.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { buildModel, writeModel } from '../helpers/onnx-builder.js';

// Each broken model fails alone with a reason naming the model and the problem; the others keep running.

async function start(t: Test, path: string, id = 'bad'): Promise<ModelRunner> {
  const r = new ModelRunner({ id, path, providers: ['cpu'], workers: 1, intraOpThreads: 1 }, quietLog);
  t.teardown(() => r.stop());
  await r.start();
  return r;
}

const classifier = (extra: Record<string, unknown> = {}) => ({
  id: 'bad',
  version: '1',
  task: 'classification',
  input: { width: 32, height: 32, resize: 'stretch' },
  outputs: [{ name: 'scores', role: 'scores' }],
  labels: ['ok', 'scratch', 'dent'],
  ...extra,
});
const frame = (): Frame => ({
  kind: 'encoded',
  data: readFileSync(join(SAMPLES, '0001.jpg')),
  capturedAt: Date.now(),
});

t.test('a missing model file', async (t) => {
  const dir = tempDir();
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(classifier()));
  const r = await start(t, join(dir, 'model.onnx'));
  t.equal(r.state, 'failed');
  t.match(r.snapshot().error, /cannot read model file .*model\.onnx: file not found/);
});

t.test('a file that is not ONNX', async (t) => {
  const path = writeModel(new TextEncoder().encode('<html>404 Not Found</html>'), classifier());
  const r = await start(t, path);
  t.equal(r.state, 'failed');
  t.match(r.snapshot().error, /model\.onnx is not an ONNX model/);
});

t.test('a model whose input size differs from the manifest', async (t) => {
  const bytes = buildModel({
    input: { name: 'input', shape: [1, 3, 224, 224] },
    outputs: [{ name: 'scores', dims: [1, 3], values: [0.8, 0.1, 0.1] }],
  });
  const r = await start(t, writeModel(bytes, classifier({ input: { width: 128, height: 128 } })));
  t.equal(r.state, 'failed');
  t.match(
    r.snapshot().error,
    /model bad \(.*\): the model expects input "input" of 224x224 \(\[1, 3, 224, 224\], NCHW\) but the manifest says 128x128/,
  );
});

t.test('a manifest input name the model does not have; a dtype the model does not take', async (t) => {
  const bytes = buildModel({
    input: { name: 'input', type: 'uint8', shape: [1, 32, 32, 3] },
    outputs: [{ name: 'scores', dims: [1, 3], values: [0.8, 0.1, 0.1] }],
  });
  const named = await start(
    t,
    writeModel(bytes, classifier({ input: { name: 'images', width: 32, height: 32 } })),
  );
  t.match(named.snapshot().error, /manifest input "images" is not a model input \(input\)/);
  const typed = await start(
    t,
    writeModel(bytes, classifier({ input: { dtype: 'float32', width: 32, height: 32 } })),
  );
  t.match(typed.snapshot().error, /the manifest feeds float32 but input "input" is uint8/);
  const ok = await start(t, writeModel(bytes, classifier({ input: { width: 32, height: 32 } })));
  t.equal(ok.state, 'ready', 'dtype uint8 and NHWC are taken from the model when the manifest is silent');
});

t.test("a classifier's [1,3] output under task detection", async (t) => {
  const bytes = buildModel({
    input: { name: 'images', shape: [1, 3, 32, 32] },
    outputs: [{ name: 'output0', dims: [1, 3], values: [0.8, 0.1, 0.1] }],
  });
  const r = await start(
    t,
    writeModel(bytes, { id: 'bad', version: '1', task: 'detection', labels: ['scratch', 'dent'] }),
  );
  t.equal(r.state, 'failed');
  t.match(r.snapshot().error, /model bad .*output "output0": shape \[1, 3\] is not a detection output/);
  const wrongNc = buildModel({
    input: { name: 'images', shape: [1, 3, 32, 32] },
    outputs: [{ name: 'output0', dims: [1, 84, 10], values: new Array(840).fill(0) }],
  });
  const r2 = await start(
    t,
    writeModel(wrongNc, {
      id: 'bad',
      version: '1',
      task: 'detection',
      labels: ['a', 'b'],
      outputs: [{ name: 'output0', role: 'detections', format: 'yolov8' }],
    }),
  );
  t.match(r2.snapshot().error, /shape \[1, 84, 10\] does not fit yolov8 with 2 labels/);
});

t.test('a classifier whose output count differs from its labels', async (t) => {
  const bytes = buildModel({
    input: { name: 'input', shape: [1, 3, 32, 32] },
    outputs: [{ name: 'scores', dims: [1, 5], values: [0.2, 0.2, 0.2, 0.2, 0.2] }],
  });
  const r = await start(t, writeModel(bytes, classifier()));
  t.match(r.snapshot().error, /output "scores" has shape \[1, 5\] \(5 values\) for 3 labels/);
});

t.test('NaN at warm-up fails the load', async (t) => {
  const bytes = buildModel({
    input: { name: 'input', shape: [1, 3, 32, 32] },
    outputs: [{ name: 'scores', dims: [1, 3], values: [Number.NaN, 0.1, 0.1] }],
  });
  const r = await start(t, writeModel(bytes, classifier()));
  t.equal(r.state, 'failed');
  t.match(
    r.snapshot().error,
    /warm-up run failed: model bad: output "scores" contains NaN or infinite values/,
  );
});

t.test('NaN at inference is an ERROR decision; another camera on a good model keeps judging', async (t) => {
  const bytes = buildModel({
    input: { name: 'input', shape: [1, 3, 32, 32] },
    outputs: [{ name: 'scores', dims: [1, 3], values: [0.8, 0.1, 0.1] }],
    nanOnRealInput: true,
  });
  const bad = await start(t, writeModel(bytes, classifier()));
  t.equal(bad.state, 'ready', 'the warm-up (an all-black frame) gives finite scores');
  const good = await start(t, WASHER_MODEL, 'washer');
  const { store } = tempStore();
  t.teardown(() => store.close());
  const clock = new ManualClock(Date.now());
  const inspector = (cameraId: string, model: ModelRunner) =>
    new Inspector({
      cameraId,
      deadlineMs: 60_000,
      rules: { minScore: 0.5, uncertainBelow: 0.2 },
      model,
      record: (d) => store.record(d),
      clock,
      log: quietLog,
      metrics: new AgentMetrics(false),
    });
  const broken = await inspector('cam-bad', bad).inspect({
    triggeredAt: clock.now(),
    frame: Promise.resolve(frame()),
  });
  t.equal(broken.verdict, 'ERROR');
  t.match(broken.reason, /model bad: output "scores" contains NaN or infinite values/);
  const fine = await inspector('cam-good', good).inspect({
    triggeredAt: clock.now(),
    frame: Promise.resolve(frame()),
  });
  t.not(fine.verdict, 'ERROR', `the washer camera still judges (${fine.reason})`);
  t.equal(bad.state, 'ready', 'one bad frame does not unload the model');
});
