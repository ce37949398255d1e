import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { REPO, tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { buildModel, writeModel } from '../helpers/onnx-builder.js';

// Runs the CLI from source (tsx), so the test needs no build.
function inspect(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO, 'agent/main.ts'), 'model', 'inspect', ...args],
    {
      encoding: 'utf8',
      cwd: REPO,
    },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('inspect --json: io, opset, precision and the manifest the agent would use', async (t) => {
  const r = inspect(WASHER_MODEL, '--json');
  t.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out);
  t.equal(report.opset, 17);
  t.equal(report.precision, 'fp32');
  t.same(report.inputs[0], { name: 'input', type: 'float32', shape: ['N', 3, 128, 128] });
  t.equal(report.manifest.id, 'washer');
  t.equal(report.manifest.task, 'classification');
  t.same(report.manifest.labels, ['ok', 'scratch', 'dent']);
  t.equal(report.manifest.input.resize, 'stretch');
});

t.test('an Ultralytics export with no manifest: the manifest comes from its metadata', async (t) => {
  const path = writeModel(
    buildModel({
      input: { name: 'images', shape: [1, 3, 320, 320] },
      outputs: [{ name: 'output0', dims: [1, 6, 10], values: new Array(60).fill(0) }],
      metadata: { names: "{0: 'scratch', 1: 'dent'}", imgsz: '[320, 320]', stride: '32', task: 'detect' },
    }),
  );
  const text = inspect(path);
  t.equal(text.code, 0, text.err);
  t.match(text.out, /input {2}images: float32 \[1, 3, 320, 320\]/);
  t.match(text.out, /names: \{0: 'scratch', 1: 'dent'\}/);
  t.match(text.out, /manifest \(from the model metadata/);
  const report = JSON.parse(inspect(path, '--json').out);
  t.equal(report.manifest.task, 'detection');
  t.equal(report.manifest.input.resize, 'letterbox');
  t.same(report.manifest.labels, ['scratch', 'dent']);
  t.same(report.manifest.outputs, [{ name: 'output0', role: 'detections', activation: 'none' }]);
});

t.test('exit 1: not ONNX, or a manifest that does not fit the model', async (t) => {
  const dir = tempDir();
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'x.onnx'), 'not a model');
  const junk = inspect(join(dir, 'x.onnx'));
  t.equal(junk.code, 1);
  t.match(junk.err, /is not an ONNX model/);
  const path = writeModel(
    buildModel({
      input: { name: 'input', shape: [1, 3, 224, 224] },
      outputs: [{ name: 'scores', dims: [1, 2], values: [1, 0] }],
    }),
    {
      id: 'm',
      version: '1',
      task: 'classification',
      input: { width: 128, height: 128 },
      labels: ['ok', 'ng'],
    },
  );
  const bad = inspect(path);
  t.equal(bad.code, 1);
  t.match(bad.out, /manifest: not usable: .*expects input "input" of 224x224/);
  t.match(bad.out, /input {2}input: float32 \[1, 3, 224, 224\]/, 'what the model takes is still shown');
});
