import { copyFileSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Frame } from '../../agent/capture/index.js';
import { loadManifest, ModelRunner, SessionPool, type WorkerFaults } from '../../agent/inference/index.js';
import { REPO, tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { quietLog, sampleLabels } from '../helpers/fixtures.js';

const samples = join(REPO, 'samples/washer');
const labels = sampleLabels();
const frame = (i: number): Frame => ({
  kind: 'encoded',
  data: readFileSync(join(samples, labels[i % labels.length]?.[0] ?? '0001.jpg')),
  capturedAt: 0,
});

async function pool(t: Test, maxBatch = 1, faults?: WorkerFaults): Promise<SessionPool> {
  const loaded = loadManifest(WASHER_MODEL);
  const p = new SessionPool(1, quietLog, undefined, undefined, maxBatch);
  t.teardown(() => p.close());
  await p.load({
    modelPath: loaded.modelPath,
    providers: ['cpu'],
    intraOpThreads: 1,
    manifest: loaded.manifest,
    stats: { feed: loaded.manifest.input.name, input: loaded.manifest.input },
    faults,
  });
  await p.warmUp();
  return p;
}

/** The washer model in a folder of its own, its manifest with `extra` appended (batch, fastDecode). */
function washerWith(extra: string, inputLine = ''): string {
  const dir = tempDir();
  symlinkSync(WASHER_MODEL, join(dir, 'model.onnx'));
  symlinkSync(join(REPO, 'models/washer/golden'), join(dir, 'golden'));
  let manifest = readFileSync(join(REPO, 'models/washer/manifest.yaml'), 'utf8');
  if (inputLine) manifest = manifest.replace(/^input:\n/m, `input:\n  ${inputLine}\n`);
  writeFileSync(join(dir, 'manifest.yaml'), `${manifest}\n${extra}\n`);
  return join(dir, 'model.onnx');
}

t.test('a worker holds one frame decoding ahead of the one it runs; the rest wait in order', async (t) => {
  const p = await pool(t);
  const runs = [0, 1, 2, 3, 4].map((i) => p.infer(frame(i)));
  t.equal(p.queued, 3, 'two frames went to the worker, three wait in the main thread');
  t.equal(p.busy, 5);
  const results = await Promise.all(runs);
  results.forEach((r, i) => {
    const scores = r.result.task === 'classification' ? r.result.scores : {};
    const top = Object.entries(scores).sort((a, b) => b[1] - a[1])[0]?.[0];
    t.equal(top, labels[i]?.[1], `frame ${i} judged as labelled`);
    t.ok(r.imageStats && r.imageStats.brightness > 0, `frame ${i} has its image statistics`);
  });
  t.equal(p.busy, 0);
});

t.test('with batching the worker holds one batch running and one decoding ahead', async (t) => {
  const p = await pool(t, 2);
  const runs = [0, 1, 2, 3, 4].map((i) => p.infer(frame(i)));
  t.equal(p.queued, 1);
  await Promise.all(runs);
});

const cancelled = { code: 'EVA_ERR_INFERENCE_FAILED', message: /cancelled: its caller gave up/ };

t.test('a caller that gives up: its frame leaves the queue or its worker, unrun', async (t) => {
  const p = await pool(t);
  const gaveUp = [new AbortController(), new AbortController()];
  const first = p.infer(frame(0));
  const held = p.infer(frame(1), gaveUp[0]?.signal); // handed to the worker, behind the first
  const queued = p.infer(frame(2), gaveUp[1]?.signal); // still in the main thread's queue
  const last = p.infer(frame(3));
  const gone = [t.rejects(held, cancelled), t.rejects(queued, cancelled)];
  t.equal(p.queued, 2);
  for (const c of gaveUp) c.abort();
  t.equal(p.queued, 1, 'the queued frame left the queue at once');
  await Promise.all(gone);
  t.equal((await first).batch, 1);
  t.equal((await last).batch, 1);
  t.equal(p.busy, 0, 'nothing left behind');
});

t.test('an undecodable frame fails alone, with its reason, between good ones', async (t) => {
  const p = await pool(t);
  const bad = p.infer({ kind: 'encoded', data: frame(0).data.subarray(0, 3000), capturedAt: 0 });
  const good = p.infer(frame(1));
  await t.rejects(bad, { code: 'EVA_ERR_FRAME_DECODE', message: /frame could not be decoded/ });
  t.equal((await good).result.task, 'classification');
});

t.test('a decode worker that dies: the frame it held fails, the next ones are judged', async (t) => {
  const p = await pool(t, 1, { exitDecoderOnFrame: 2 });
  t.equal((await p.infer(frame(0))).result.task, 'classification');
  await t.rejects(p.infer(frame(1)), { code: 'EVA_ERR_WORKER_DIED', message: /decode worker died/ });
  const next = await Promise.all([2, 3, 4].map((i) => p.infer(frame(i))));
  t.same(
    next.map((r) => r.result.task),
    ['classification', 'classification', 'classification'],
    'a replacement decodes them',
  );
  t.equal(p.busy, 0);
});

t.test('frames waiting at the same moment share one session.run; results are the same', async (t) => {
  const alone = new ModelRunner(
    { id: 'alone', path: WASHER_MODEL, providers: ['cpu'], workers: 1, intraOpThreads: 1 },
    quietLog,
  );
  // a long wait, so the batches fill whatever the load on this machine: a frame waits for three others
  const batched = new ModelRunner(
    {
      id: 'batched',
      path: washerWith('batch: { max: 4, waitMs: 1000 }'),
      providers: ['cpu'],
      workers: 1,
      intraOpThreads: 1,
    },
    quietLog,
  );
  t.teardown(() => Promise.all([alone.stop(), batched.stop()]));
  await Promise.all([alone.start(), batched.start()]);
  t.equal(batched.state, 'ready', batched.snapshot().error ?? '');
  const frames = [0, 1, 2, 3, 4, 5, 6, 7].map(frame);
  const together = await Promise.all(frames.map((f) => batched.infer(f)));
  t.same(
    together.map((r) => r.batch),
    [4, 4, 4, 4, 4, 4, 4, 4],
    'two runs of four',
  );
  for (const [i, f] of frames.entries()) {
    const one = await alone.infer(f);
    t.equal(one.batch, 1);
    const a = one.result.task === 'classification' ? one.result.scores : {};
    const b = together[i]?.result.task === 'classification' ? together[i].result.scores : {};
    const diff = Math.max(...Object.keys(a).map((k) => Math.abs((a[k] ?? 0) - (b[k] ?? 1))));
    t.ok(diff < 1e-4, `frame ${i}: batched scores within ${diff.toExponential(1)} of its own run`);
    t.same(together[i]?.imageStats, one.imageStats, `frame ${i}: the same image statistics`);
  }
});

t.test('batching a model whose batch dimension is fixed is refused by name', async (t) => {
  const dir = tempDir();
  copyFileSync(join(REPO, 'models/washer-det/model.onnx'), join(dir, 'model.onnx'));
  const manifest = readFileSync(join(REPO, 'models/washer-det/manifest.yaml'), 'utf8');
  writeFileSync(join(dir, 'manifest.yaml'), `${manifest}\nbatch: { max: 2 }\n`);
  t.throws(() => loadManifest(join(dir, 'model.onnx')), {
    code: 'EVA_ERR_MODEL_MANIFEST',
    message: /batch\.max 2 needs a free batch dimension, but "images" has shape \[1, 3, 256, 256\]/,
  });
});

t.test('input.fastDecode reaches the decoder: other pixels when on, the same when off', async (t) => {
  const sharp = (await import('sharp')).default;
  // 768 px to 128: sharp's default decodes at 1/2 here, fastDecode at 1/4 (docs/models.md)
  const jpeg = await sharp({
    create: {
      width: 768,
      height: 768,
      channels: 3,
      background: { r: 0, g: 0, b: 0 },
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  })
    .jpeg({ quality: 90 })
    .toBuffer();
  const run = async (path: string) => {
    const r = new ModelRunner({ id: 'w', path, providers: ['cpu'], workers: 1, intraOpThreads: 1 }, quietLog);
    t.teardown(() => r.stop());
    await r.start();
    t.equal(r.state, 'ready', r.snapshot().error ?? '');
    return (await r.infer({ kind: 'encoded', data: jpeg, capturedAt: 0 })).imageStats;
  };
  const plain = await run(WASHER_MODEL);
  const off = await run(washerWith('', 'fastDecode: false'));
  const on = await run(washerWith('', 'fastDecode: true'));
  t.same(off, plain, 'fastDecode: false is the default decode, pixel for pixel');
  t.not(on?.sharpness, plain?.sharpness, 'fastDecode: true feeds the model other pixels');
});
