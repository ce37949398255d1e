import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import t, { type Test } from 'tap';
import type { Frame } from '../../agent/capture/index.js';
import { ModelRunner } from '../../agent/inference/index.js';
import { quietLog } from '../helpers/fixtures.js';
import { buildModel, writeModel } from '../helpers/onnx-builder.js';

// Models built for the test whose outputs are known constants: the decoders are checked against boxes
// worked out by hand. Source frames are 640x480; the model input is 320x320 letterboxed (r = 0.5,
// 320x240 centred, 40 px of 114 above and below), so source = (model - [0, 40]) / 0.5.
const LABELS = ['scratch', 'dent'];
type Row = { box: [number, number, number, number]; cls: number; score: number; obj?: number };
const ROWS: Row[] = [
  { box: [50, 80, 150, 160], cls: 1, score: 0.9 }, // dent -> [100, 80, 300, 240]
  { box: [52, 82, 152, 162], cls: 1, score: 0.8 }, // same dent, weaker: NMS drops it
  { box: [200, 190, 280, 250], cls: 0, score: 0.7 }, // scratch -> [400, 300, 560, 420]
  { box: [50, 80, 150, 160], cls: 0, score: 0.6 }, // scratch on the dent: kept per class, dropped agnostic
  { box: [10, 10, 20, 20], cls: 1, score: 0.1, obj: 0.1 }, // below confidence
  // empty anchors: 9 in all, so no dimension equals another layout's (real models have 8400 or 25200)
  ...Array.from({ length: 4 }, () => ({ box: [0, 0, 0, 0] as Row['box'], cls: 0, score: 0, obj: 0 })),
];
const DENT = { label: 'dent', score: 0.9, box: [100, 80, 300, 240] };
const SCRATCH = { label: 'scratch', score: 0.7, box: [400, 300, 560, 420] };
const SCRATCH_ON_DENT = { label: 'scratch', score: 0.6, box: [100, 80, 300, 240] };

const xywh = (b: Row['box']) => [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]];
const classScores = (r: Row) => LABELS.map((_, c) => (c === r.cls ? r.score : 0));

function yolov8(): { dims: number[]; values: number[] } {
  // [1, 4+nc, N]: one column per anchor
  const rows = ROWS.map((r) => [...xywh(r.box), ...classScores(r)]);
  const values: number[] = [];
  for (let j = 0; j < 4 + LABELS.length; j++) for (const row of rows) values.push(row[j] as number);
  return { dims: [1, 4 + LABELS.length, ROWS.length], values };
}

function yolov5(): { dims: number[]; values: number[] } {
  // [1, N, 5+nc]: conf = objectness * class score
  const values = ROWS.flatMap((r) => {
    const obj = r.obj ?? 1;
    return [...xywh(r.box), obj, ...classScores(r).map((s) => (obj > 0 ? s / obj : 0))];
  });
  return { dims: [1, ROWS.length, 5 + LABELS.length], values };
}

function end2end(): { dims: number[]; values: number[] } {
  // [1, K, 6] after the model's own NMS: x1, y1, x2, y2, conf, class
  const kept = [ROWS[0], ROWS[2], ROWS[3], ROWS[4], ROWS[5], ROWS[6], ROWS[7]] as Row[];
  return { dims: [1, kept.length, 6], values: kept.flatMap((r) => [...r.box, r.score, r.cls]) };
}

async function frame(): Promise<Frame> {
  const data = await sharp({
    create: { width: 640, height: 480, channels: 3, background: { r: 90, g: 90, b: 90 } },
  })
    .jpeg()
    .toBuffer();
  return { kind: 'encoded', data, capturedAt: Date.now() };
}

async function start(t: Test, path: string): Promise<ModelRunner> {
  const r = new ModelRunner({ id: 'det', path, providers: ['cpu'], workers: 1, intraOpThreads: 1 }, quietLog);
  t.teardown(() => r.stop());
  await r.start();
  return r;
}

function manifest(format: string | undefined, extra: Record<string, unknown> = {}) {
  return {
    id: 'det',
    version: '1',
    task: 'detection',
    input: { width: 320, height: 320 },
    outputs: [{ name: 'output0', role: 'detections', ...(format ? { format } : {}) }],
    labels: LABELS,
    ...extra,
  };
}

const LAYOUTS = { yolov8, yolov5, end2end };

for (const [name, make] of Object.entries(LAYOUTS)) {
  for (const explicit of [true, false]) {
    t.test(
      `${name} output (format ${explicit ? 'given' : 'inferred from the shape'}) decodes to the expected boxes`,
      async (t) => {
        const out = make();
        const path = writeModel(
          buildModel({
            input: { name: 'images', shape: [1, 3, 320, 320] },
            outputs: [{ name: 'output0', ...out }],
          }),
          manifest(explicit ? name : undefined),
        );
        const r = await start(t, path);
        t.equal(r.state, 'ready', r.snapshot().error ?? '');
        const inf = await r.infer(await frame());
        t.same(inf.result, { task: 'detection', detections: [DENT, SCRATCH, SCRATCH_ON_DENT] });
        t.equal(inf.sourceWidth, 640);
      },
    );
  }
}

t.test('agnostic NMS drops boxes of other classes too; maxDetections caps the list', async (t) => {
  const out = yolov8();
  const path = writeModel(
    buildModel({
      input: { name: 'images', shape: [1, 3, 320, 320] },
      outputs: [{ name: 'output0', ...out }],
    }),
    manifest('yolov8', { detection: { agnostic: true } }),
  );
  const r = await start(t, path);
  const inf = await r.infer(await frame());
  t.same(inf.result, { task: 'detection', detections: [DENT, SCRATCH] });

  const capped = writeModel(
    buildModel({
      input: { name: 'images', shape: [1, 3, 320, 320] },
      outputs: [{ name: 'output0', ...out }],
    }),
    manifest('yolov8', { detection: { maxDetections: 1, confidence: 0.05 } }),
  );
  const r2 = await start(t, capped);
  t.same((await r2.infer(await frame())).result, { task: 'detection', detections: [DENT] });
});

t.test(
  'an Ultralytics export runs with no manifest at all: names, imgsz and task from metadata_props',
  async (t) => {
    const out = yolov8();
    const path = writeModel(
      buildModel({
        input: { name: 'images', shape: [1, 3, 320, 320] },
        outputs: [{ name: 'output0', ...out }],
        metadata: {
          names: "{0: 'scratch', 1: 'dent'}",
          imgsz: '[320, 320]',
          stride: '32',
          task: 'detect',
          description: 'Ultralytics YOLO11n model',
        },
      }),
    );
    const r = await start(t, path);
    const s = r.snapshot();
    t.equal(s.state, 'ready', s.error ?? '');
    t.same(s.labels, LABELS);
    t.equal(s.version, s.sha256?.slice(0, 12), 'version defaults to the sha256 prefix');
    t.same((await r.infer(await frame())).result, {
      task: 'detection',
      detections: [DENT, SCRATCH, SCRATCH_ON_DENT],
    });
  },
);

t.test('a one-class end-to-end model is told apart from yolov5 by the end2end metadata', async (t) => {
  const values = [50, 80, 150, 160, 0.9, 0, 0, 0, 0, 0, 0, 0];
  const path = writeModel(
    buildModel({
      input: { name: 'images', shape: [1, 3, 320, 320] },
      outputs: [{ name: 'output0', dims: [1, 2, 6], values }],
      metadata: { names: "{0: 'dent'}", imgsz: '[320, 320]', task: 'detect', end2end: 'True' },
    }),
  );
  const r = await start(t, path);
  t.same((await r.infer(await frame())).result, {
    task: 'detection',
    detections: [{ label: 'dent', score: 0.9, box: [100, 80, 300, 240] }],
  });
});

t.test(
  'detection golden images: exact set matched by label and IoU, else the model fails to load',
  async (t) => {
    const out = yolov8();
    const bytes = buildModel({
      input: { name: 'images', shape: [1, 3, 320, 320] },
      outputs: [{ name: 'output0', ...out }],
    });
    const good = manifest('yolov8', {
      golden: [
        {
          image: 'golden/part.jpg',
          expect: {
            detections: [
              { label: 'dent', box: [102, 78, 298, 244] },
              { label: 'scratch', box: [400, 300, 560, 420] },
              { label: 'scratch', box: [100, 80, 300, 240] },
            ],
            minIou: 0.9,
          },
        },
      ],
    });
    const path = writeModel(bytes, good);
    const img = (await frame()).data;
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dirname(path), 'golden'));
    writeFileSync(join(dirname(path), 'golden/part.jpg'), img);
    const r = await start(t, path);
    t.equal(r.state, 'ready', r.snapshot().error ?? '');

    const bad = manifest('yolov8', {
      golden: [
        { image: 'golden/part.jpg', expect: { detections: [{ label: 'dent', box: [100, 80, 300, 240] }] } },
      ],
    });
    const badPath = writeModel(bytes, bad);
    mkdirSync(join(dirname(badPath), 'golden'));
    writeFileSync(join(dirname(badPath), 'golden/part.jpg'), img);
    const r2 = await start(t, badPath);
    t.equal(r2.state, 'failed');
    t.match(
      r2.snapshot().error,
      /golden images failed: golden\/part\.jpg: unexpected scratch 0\.7 \[400, 300, 560, 420\]/,
    );
  },
);
