import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Frame } from '../../agent/capture/index.js';
import { ModelRunner } from '../../agent/inference/index.js';
import { SAMPLES } from '../helpers/agent-process.js';
import { quietLog } from '../helpers/fixtures.js';
import { buildModel, writeModel } from '../helpers/onnx-builder.js';

// Input dtypes other than float32 go through the worker as their own tensor types: float16 as raw bits in
// a Uint16Array (Node 20 has no Float16Array), uint8 as bytes; float16 outputs come back widened.

async function start(t: Test, path: string): Promise<ModelRunner> {
  const r = new ModelRunner({ id: 'p', path, providers: ['cpu'], workers: 1, intraOpThreads: 1 }, quietLog);
  t.teardown(() => r.stop());
  await r.start();
  return r;
}
const frame = (): Frame => ({
  kind: 'encoded',
  data: readFileSync(join(SAMPLES, '0001.jpg')),
  capturedAt: 0,
});
const manifest = { id: 'p', version: '1', task: 'classification', labels: ['ok', 'scratch', 'dent'] };

t.test('a float16-input model with a float16 output runs; dtype and size come from the model', async (t) => {
  const bytes = buildModel({
    input: { name: 'x', type: 'float16', shape: [1, 3, 48, 64] },
    outputs: [{ name: 'scores', dims: [1, 3], values: [0.25, 0.5, 0.125], cast: 'float16' }],
  });
  const r = await start(t, writeModel(bytes, manifest));
  t.equal(r.state, 'ready', r.snapshot().error ?? '');
  const inf = await r.infer(frame());
  t.same(inf.result, { task: 'classification', scores: { ok: 0.25, scratch: 0.5, dent: 0.125 } });
});

t.test('a uint8 NHWC model runs', async (t) => {
  const bytes = buildModel({
    input: { name: 'x', type: 'uint8', shape: [1, 64, 64, 3] },
    outputs: [{ name: 'scores', dims: [1, 3], values: [0.9, 0.05, 0.05] }],
  });
  const r = await start(t, writeModel(bytes, manifest));
  t.equal(r.state, 'ready', r.snapshot().error ?? '');
  t.same((await r.infer(frame())).result, {
    task: 'classification',
    scores: { ok: 0.9, scratch: 0.05, dent: 0.05 },
  });
});
