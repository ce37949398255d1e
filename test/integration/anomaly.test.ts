import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import t, { type Test } from 'tap';
import type { Frame } from '../../agent/capture/index.js';
import { ModelRunner } from '../../agent/inference/index.js';
import { quietLog } from '../helpers/fixtures.js';
import { buildModel, writeModel } from '../helpers/onnx-builder.js';

// anomalib-shaped models with known outputs: v2 (pred_score normalised in the graph) and v1 (a raw map
// plus metadata.json, normalised by the agent as anomalib does).
const MAP = Array.from({ length: 64 }, (_, i) => (i === 27 ? 12 : 2 + (i % 5)));

async function frame(): Promise<Frame> {
  const data = await sharp({
    create: { width: 200, height: 150, channels: 3, background: { r: 40, g: 50, b: 60 } },
  })
    .png()
    .toBuffer();
  return { kind: 'encoded', data, capturedAt: Date.now() };
}

async function start(t: Test, path: string): Promise<ModelRunner> {
  const r = new ModelRunner(
    { id: 'anom', path, providers: ['cpu'], workers: 1, intraOpThreads: 1 },
    quietLog,
  );
  t.teardown(() => r.stop());
  await r.start();
  return r;
}

const input = { name: 'input', shape: [1, 3, 64, 64] };

t.test('anomalib v2: pred_score, pred_label, anomaly_map and pred_mask found by name', async (t) => {
  const bytes = buildModel({
    input,
    outputs: [
      { name: 'pred_score', dims: [1], values: [0.83] },
      { name: 'pred_label', dims: [1], values: [1], cast: 'bool' },
      { name: 'anomaly_map', dims: [1, 1, 8, 8], values: MAP },
      { name: 'pred_mask', dims: [1, 1, 8, 8], values: MAP.map((v) => (v > 10 ? 1 : 0)) },
    ],
  });
  const path = writeModel(bytes, {
    id: 'anom',
    version: '2',
    task: 'anomaly',
    input: { normalizedInGraph: true },
    golden: [{ image: 'golden/bad.png', expect: { anomalous: true, score: 0.83, tolerance: 0.001 } }],
  });
  mkdirSync(join(dirname(path), 'golden'));
  writeFileSync(join(dirname(path), 'golden/bad.png'), (await frame()).data);
  const r = await start(t, path);
  t.equal(r.state, 'ready', r.snapshot().error ?? '');
  const inf = await r.infer(await frame());
  t.same(inf.result, { task: 'anomaly', score: 0.83, threshold: 0.5 });
  t.equal(inf.maps?.anomaly?.width, 8);
  t.equal(inf.maps?.anomaly?.height, 8);
  t.same(Array.from(inf.maps?.anomaly?.data ?? []), MAP, 'the map as the model gave it');
});

t.test('anomalib v1: the map maximum normalised with metadata.json, as anomalib does', async (t) => {
  const bytes = buildModel({ input, outputs: [{ name: 'output', dims: [1, 1, 8, 8], values: MAP }] });
  // anomalib: ((12 - 10) / (18 - 2)) + 0.5 = 0.625
  for (const meta of [
    { image_threshold: 10, pixel_threshold: 9, min: 2, max: 18 },
    {
      image_threshold: 10,
      pixel_threshold: 9,
      'pred_scores.min': 2,
      'pred_scores.max': 18,
      'anomaly_maps.min': 0,
      'anomaly_maps.max': 30,
    },
  ]) {
    const path = writeModel(
      bytes,
      { id: 'anom', version: '1', task: 'anomaly', anomaly: { metadata: 'metadata.json' } },
      { 'metadata.json': JSON.stringify(meta) },
    );
    const r = await start(t, path);
    t.equal(r.state, 'ready', r.snapshot().error ?? '');
    const inf = await r.infer(await frame());
    t.same(inf.result, { task: 'anomaly', score: 0.625, threshold: 0.5 }, JSON.stringify(meta));
    t.equal(inf.maps?.anomaly?.data[27], 12);
  }
});

t.test('anomalib v1 without its metadata is refused at load, naming what is missing', async (t) => {
  const bytes = buildModel({ input, outputs: [{ name: 'output', dims: [1, 1, 8, 8], values: MAP }] });
  const r = await start(t, writeModel(bytes, { id: 'anom', version: '1', task: 'anomaly' }));
  t.equal(r.state, 'failed');
  t.match(r.snapshot().error, /model anom .*anomalib v1 export \(no pred_score\) needs anomaly\.metadata/);
});

t.test('an anomaly golden image that is not anomalous fails the load', async (t) => {
  const bytes = buildModel({ input, outputs: [{ name: 'pred_score', dims: [1], values: [0.2] }] });
  const path = writeModel(bytes, {
    id: 'anom',
    version: '1',
    task: 'anomaly',
    input: { normalizedInGraph: true },
    golden: [{ image: 'g.png', expect: { anomalous: true } }],
  });
  writeFileSync(join(dirname(path), 'g.png'), (await frame()).data);
  const r = await start(t, path);
  t.equal(r.state, 'failed');
  t.match(r.snapshot().error, /g\.png: expected anomalous, got score 0\.2 \(threshold 0\.5\)/);
});
