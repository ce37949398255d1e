import sharp from 'sharp';
import t, { type Test } from 'tap';
import type { Frame } from '../../agent/capture/index.js';
import { ModelRunner, planResize } from '../../agent/inference/index.js';
import { quietLog } from '../helpers/fixtures.js';
import { buildModel, writeModel } from '../helpers/onnx-builder.js';

// One model per common export, each built with known outputs (constants in the graph, so the expected
// result is exact), loaded the way the agent loads it and decoded.

async function frame(width = 128, height = 128): Promise<Frame> {
  const data = await sharp({ create: { width, height, channels: 3, background: { r: 90, g: 90, b: 90 } } })
    .png()
    .toBuffer();
  return { kind: 'encoded', data, capturedAt: Date.now() };
}

async function run(t: Test, path: string, f?: Frame) {
  const r = new ModelRunner({ id: 'm', path, providers: ['cpu'], workers: 1, intraOpThreads: 1 }, quietLog);
  t.teardown(() => r.stop());
  await r.start();
  t.equal(r.state, 'ready', r.snapshot().error ?? '');
  return { runner: r, inference: await r.infer(f ?? (await frame())) };
}

const images = { name: 'images', shape: [1, 3, 64, 64] };
// YOLOv5 [1, N, 5 + nc]: cx, cy, w, h, objectness, class scores (model-input pixels, 64x64 letterbox)
const YOLOV5_ROWS = [
  [32, 32, 16, 16, 0.9, 0.1, 0.8], // dent 0.72 at [24, 24, 40, 40]
  [10, 10, 4, 4, 0.1, 0.5, 0.1], // 0.05: under the confidence threshold
  [50, 12, 8, 8, 0.2, 0.9, 0.1], // 0.18: under it too
];

t.test('the YOLOv5 repository export: metadata stride and names only, no task, no manifest', async (t) => {
  for (const names of ["{0: 'scratch', 1: 'dent'}", "['scratch', 'dent']"]) {
    const bytes = buildModel({
      input: images,
      outputs: [{ name: 'output0', dims: [1, 3, 7], values: YOLOV5_ROWS.flat() }],
      metadata: { stride: '32', names },
    });
    const { runner, inference } = await run(t, writeModel(bytes));
    t.equal(runner.manifest?.manifest.task, 'detection', `names as ${names}`);
    t.same(runner.labels, ['scratch', 'dent']);
    t.equal(runner.manifest?.manifest.input.resize, 'letterbox');
    // a 128x128 frame is letterboxed at 0.5 with no padding: source = model / 0.5
    t.same(inference.result, {
      task: 'detection',
      detections: [{ label: 'dent', score: 0.72, box: [48, 48, 80, 80] }],
    });
  }
});

t.test(
  'a YOLOv5-repository classifier (logits) and an Ultralytics classify export (probabilities)',
  async (t) => {
    const legacy = buildModel({
      input: images,
      outputs: [{ name: 'output0', dims: [1, 2], values: [0, Math.log(4)] }],
      metadata: { stride: '1', names: "{0: 'ok', 1: 'ng'}" },
    });
    const a = await run(t, writeModel(legacy));
    t.equal(a.runner.manifest?.manifest.task, 'classification');
    const sa = (a.inference.result as { scores: Record<string, number> }).scores;
    t.ok(
      Math.abs((sa.ng ?? 0) - 0.8) < 1e-4 && Math.abs((sa.ok ?? 0) - 0.2) < 1e-4,
      `softmax applied: ${JSON.stringify(sa)}`,
    );

    const ultralytics = buildModel({
      input: images,
      outputs: [{ name: 'output0', dims: [1, 2], values: [0.2, 0.8] }],
      metadata: { task: 'classify', names: "{0: 'ok', 1: 'ng'}", imgsz: '[64, 64]', stride: '1' },
    });
    const b = await run(t, writeModel(ultralytics), await frame(160, 96));
    t.equal(b.runner.manifest?.manifest.input.resize, 'shortside-centercrop');
    t.same(b.inference.result, { task: 'classification', scores: { ok: 0.2, ng: 0.8 } });
  },
);

t.test(
  'a torchvision / timm classifier with a manifest only: logits, ImageNet normalisation, crop_pct',
  async (t) => {
    const bytes = buildModel({
      input: { name: 'input', shape: [1, 3, 64, 64] },
      outputs: [{ name: 'logits', dims: [1, 3], values: [1, 2, 3] }],
    });
    const path = writeModel(bytes, {
      id: 'resnet',
      version: '1',
      task: 'classification',
      labels: ['ok', 'scratch', 'dent'],
      input: {
        resize: 'shortside-centercrop',
        cropPct: 0.875,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
      },
      outputs: [{ name: 'logits', role: 'scores', activation: 'softmax' }],
    });
    const { inference } = await run(t, path, await frame(640, 480));
    const e = [1, 2, 3].map(Math.exp);
    const sum = e.reduce((x, y) => x + y, 0);
    const scores = (inference.result as { scores: Record<string, number> }).scores;
    t.ok(
      Math.abs((scores.dent ?? 0) - (e[2] ?? 0) / sum) < 1e-4,
      `softmax of the logits: ${JSON.stringify(scores)}`,
    );
    // torchvision: Resize(floor(64 / 0.875) = 73) -> 97x73, CenterCrop(64) at round(16.5) = 16, round(4.5) = 4
    const plan = planResize(640, 480, {
      width: 64,
      height: 64,
      resize: 'shortside-centercrop',
      cropPct: 0.875,
    });
    t.same([plan.resizeWidth, plan.resizeHeight, plan.crop], [97, 73, { left: 16, top: 4 }]);
  },
);

const MAP = Array.from({ length: 64 }, (_, i) => (i === 9 ? 14 : 2 + (i % 3)));
const v1Meta = { image_threshold: 10, pixel_threshold: 9, 'pred_scores.min': 2, 'pred_scores.max': 18 };

t.test(
  'anomalib v1 exports: PaDiM (one map), PatchCore (map and score), EfficientAD (three maps)',
  async (t) => {
    const map = (name: string) => ({ name, dims: [1, 1, 8, 8], values: MAP });
    const cases: [string, ReturnType<typeof map>[]][] = [
      ['padim', [map('output')]],
      ['patchcore', [map('output'), { name: 'onnx::ReduceMax_512', dims: [1], values: [14] }]],
      ['efficient_ad', [map('output'), map('onnx::map_st'), map('onnx::map_ae')]],
    ];
    for (const [model, outputs] of cases) {
      const bytes = buildModel({ input: { name: 'input', shape: [1, 3, 64, 64] }, outputs });
      const path = writeModel(
        bytes,
        { id: model, version: '1', task: 'anomaly', anomaly: { metadata: 'metadata.json' } },
        { 'metadata.json': JSON.stringify(v1Meta) },
      );
      const { inference } = await run(t, path);
      // anomalib's inferencers: max of the map, ((14 - 10) / (18 - 2)) + 0.5 = 0.75
      t.same(inference.result, { task: 'anomaly', score: 0.75, threshold: 0.5 }, model);
      t.equal(inference.maps?.anomaly?.width, 8, `${model}: the first output is the map`);
    }
  },
);

t.test(
  'anomalib v2 exports: PatchCore, PaDiM, EfficientAD (pred_score, pred_label, anomaly_map, pred_mask)',
  async (t) => {
    const cases: [string, number, number][] = [
      ['patchcore', 224, 0.83],
      ['padim', 256, 0.31],
      ['efficient_ad', 256, 0.64],
    ];
    for (const [model, size, score] of cases) {
      const bytes = buildModel({
        input: { name: 'input', shape: [1, 3, size, size] },
        outputs: [
          { name: 'pred_score', dims: [1], values: [score] },
          { name: 'pred_label', dims: [1], values: [score >= 0.5 ? 1 : 0], cast: 'bool' },
          {
            name: 'anomaly_map',
            dims: [1, 1, 16, 16],
            values: Array.from({ length: 256 }, (_, i) => i / 256),
          },
          {
            name: 'pred_mask',
            dims: [1, 1, 16, 16],
            values: Array.from({ length: 256 }, (_, i) => (i > 200 ? 1 : 0)),
            cast: 'bool',
          },
        ],
      });
      const path = writeModel(bytes, {
        id: model,
        version: '2',
        task: 'anomaly',
        input: { normalizedInGraph: true },
      });
      const { runner, inference } = await run(t, path);
      t.same(inference.result, { task: 'anomaly', score, threshold: 0.5 }, model);
      t.equal(runner.manifest?.manifest.input.width, size, `${model}: input size from the graph`);
    }
  },
);
