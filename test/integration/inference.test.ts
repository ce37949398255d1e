import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import t, { type Test } from 'tap';
import type { Frame } from '../../agent/capture/index.js';
import { loadManifest, ModelRunner } from '../../agent/inference/index.js';
import { REPO, SLOW_MODEL, tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { quietLog, sampleLabels } from '../helpers/fixtures.js';

const samples = join(REPO, 'samples/washer');
const labels = sampleLabels();

function encoded(path: string): Frame {
  return { kind: 'encoded', data: readFileSync(path), capturedAt: Date.now(), name: path };
}

async function runner(t: Test, path = WASHER_MODEL, id = 'washer') {
  const r = new ModelRunner({ id, path, providers: ['cpu'], workers: 1, intraOpThreads: 0 }, quietLog);
  t.teardown(() => r.stop());
  await r.start();
  return r;
}

t.test('the washer model loads on CPU, passes its golden images and judges the sample set', async (t) => {
  const r = await runner(t);
  const s = r.snapshot();
  t.equal(s.state, 'ready', s.error ?? 'ready');
  t.equal(s.provider, 'cpu');
  t.same(s.labels, ['ok', 'scratch', 'dent']);
  t.match(s.sha256, /^[0-9a-f]{64}$/);
  let correct = 0;
  for (const [file, label] of labels) {
    const { result } = await r.infer(encoded(join(samples, file)));
    if (result.task !== 'classification') throw new Error('classification expected');
    const sum = Object.values(result.scores).reduce((a, b) => a + b, 0);
    t.ok(Math.abs(sum - 1) < 1e-3, `${file}: probabilities sum to 1`);
    const top = Object.entries(result.scores).sort((a, b) => b[1] - a[1])[0]?.[0];
    if (top === label) correct++;
  }
  t.ok(correct / labels.length >= 0.9, `${correct}/${labels.length} sample frames classified as labelled`);
});

t.test('raw frames (decoded video) go through the same preprocessing', async (t) => {
  const r = await runner(t);
  const sharp = (await import('sharp')).default;
  const { data, info } = await sharp(join(samples, labels[0]?.[0] ?? '0001.jpg'))
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw: Frame = {
    kind: 'raw',
    data,
    width: info.width,
    height: info.height,
    channels: 3,
    capturedAt: Date.now(),
  };
  const fromRaw = await r.infer(raw);
  const fromJpeg = await r.infer(encoded(join(samples, labels[0]?.[0] ?? '0001.jpg')));
  const a = fromRaw.result.task === 'classification' ? fromRaw.result.scores : {};
  const b = fromJpeg.result.task === 'classification' ? fromJpeg.result.scores : {};
  for (const label of Object.keys(b)) {
    t.ok(
      Math.abs((a[label] ?? -1) - (b[label] ?? 0)) < 0.01,
      `${label}: same score from raw and encoded input`,
    );
  }
  t.equal(fromRaw.sourceWidth, info.width);
});

t.test('a corrupt frame is a clear FRAME_DECODE error and the runner keeps working', async (t) => {
  const r = await runner(t);
  const good = readFileSync(join(samples, labels[0]?.[0] ?? '0001.jpg'));
  await t.rejects(r.infer({ kind: 'encoded', data: good.subarray(0, 2000), capturedAt: 0 }), {
    code: 'EVA_ERR_FRAME_DECODE',
    message: /frame could not be decoded/,
  });
  await t.rejects(r.infer({ kind: 'encoded', data: Buffer.from('garbage'), capturedAt: 0 }), {
    code: 'EVA_ERR_FRAME_DECODE',
  });
  t.equal((await r.infer({ kind: 'encoded', data: good, capturedAt: 0 })).result.task, 'classification');
});

t.test('a model whose file does not match its manifest sha256 fails with a clear reason', async (t) => {
  const dir = tempDir();
  const { copyFileSync, writeFileSync } = await import('node:fs');
  copyFileSync(join(REPO, 'models/washer/manifest.yaml'), join(dir, 'manifest.yaml'));
  writeFileSync(join(dir, 'model.onnx'), 'not an onnx model');
  const r = await runner(t, join(dir, 'model.onnx'), 'broken');
  t.equal(r.state, 'failed');
  t.match(r.snapshot().error, /does not match its manifest: sha256/);
  await t.rejects(r.infer(encoded(join(samples, '0001.jpg'))), { code: 'EVA_ERR_MODEL_UNAVAILABLE' });
});

t.test('a file that is not ONNX fails to load with a reason naming the file', async (t) => {
  const dir = tempDir();
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'model.onnx'), 'not an onnx model');
  writeFileSync(
    join(dir, 'manifest.yaml'),
    'id: junk\nversion: 1\ntask: classification\ninput: { name: input, width: 8, height: 8 }\noutputs: [{ name: scores, role: scores }]\nlabels: [ok]\n',
  );
  const r = await runner(t, join(dir, 'model.onnx'), 'junk');
  t.equal(r.state, 'failed');
  t.match(r.snapshot().error, /model\.onnx is not an ONNX model/);
});

t.test('a provider that is not installed is skipped and the next one is used', async (t) => {
  const r = new ModelRunner(
    { id: 'washer', path: WASHER_MODEL, providers: ['cuda', 'cpu'], workers: 1, intraOpThreads: 0 },
    quietLog,
  );
  t.teardown(() => r.stop());
  await r.start();
  const s = r.snapshot();
  t.equal(s.state, 'ready');
  // on a GPU box with the CUDA provider installed this picks cuda; on CI it must fall back to cpu
  t.ok(s.provider === 'cpu' || s.provider === 'cuda');
  if (s.provider === 'cpu')
    t.ok(s.providerAttempts[0]?.error, 'the failed cuda attempt is reported with its reason');
});

t.test('inference runs off the main thread: the event loop stays free during a slow model', async (t) => {
  const r = await runner(t, SLOW_MODEL, 'slow');
  t.equal(r.state, 'ready', r.snapshot().error ?? '');
  const frame = encoded(join(samples, '0001.jpg'));
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  let inferenceMs = 0;
  for (let i = 0; i < 4; i++) inferenceMs += (await r.infer(frame)).timings.inference;
  h.disable();
  const perRun = inferenceMs / 4;
  const maxDelayMs = h.max / 1e6;
  t.ok(
    perRun > 60,
    `the slow model takes ${perRun.toFixed(0)} ms a run (long enough to show a blocked loop)`,
  );
  // on the main thread the loop would stall for a whole run; in a worker it stays far below one
  t.ok(maxDelayMs < perRun / 2, `max event-loop delay ${maxDelayMs.toFixed(1)} ms < half a run`);
});

t.test('the manifest loader reports what is wrong', async (t) => {
  const dir = tempDir();
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'model.onnx'), 'x');
  writeFileSync(join(dir, 'manifest.yaml'), 'id: m\ntask: segmentation\nlabels: []\n');
  t.throws(() => loadManifest(join(dir, 'model.onnx')), {
    code: 'EVA_ERR_MODEL_MANIFEST',
    message: /task|input|labels/,
  });
  t.throws(() => loadManifest(join(tempDir(), 'model.onnx')), { message: /no manifest/ });
});
