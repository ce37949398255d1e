import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { stringify } from 'yaml';
import type { Frame } from '../../agent/capture/index.js';
import { ModelRunner } from '../../agent/inference/index.js';
import { REPO, tempDir } from '../helpers/agent-process.js';
import { quietLog } from '../helpers/fixtures.js';

// A second, independent check of the three YOLO decoders: these fixtures were built by a Python script
// (test/fixtures/models/yolo/build.py) with constant outputs, and the boxes expected after threshold, NMS and
// the letterbox undo were worked out there, not by the code under test.
const DIR = join(REPO, 'test/fixtures/models/yolo');
interface Expected {
  input: { name: string; shape: number[] };
  labels: string[];
  options: { confidence: number; iou: number; agnostic: boolean };
  source: { width: number; height: number };
  expected: { label: string; score: number; scoreYolov5: number; sourceBox: number[] }[];
}
const spec = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Expected;

async function sourceFrame(): Promise<Frame> {
  const { width, height } = spec.source;
  const data = await sharp({ create: { width, height, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
  return { kind: 'encoded', data, capturedAt: Date.now() };
}

for (const format of ['yolov5', 'yolov8', 'end2end'] as const) {
  t.test(`${format} fixture decodes to the boxes build.py expects, in source pixels`, async (t) => {
    const dir = tempDir(`eva-yolo-${format}-`);
    copyFileSync(join(DIR, `${format}.onnx`), join(dir, 'model.onnx'));
    const size = spec.input.shape[3] as number;
    writeFileSync(
      join(dir, 'manifest.yaml'),
      stringify({
        schema: 1,
        id: `yolo-${format}`,
        version: '1',
        task: 'detection',
        input: { name: spec.input.name, width: size, height: size, resize: 'letterbox' },
        outputs: [{ name: 'output0', role: 'detections', format }],
        labels: spec.labels,
        detection: spec.options,
      }),
    );
    const r = new ModelRunner(
      {
        id: `yolo-${format}`,
        path: join(dir, 'model.onnx'),
        providers: ['cpu'],
        workers: 1,
        intraOpThreads: 1,
      },
      quietLog,
    );
    t.teardown(() => r.stop());
    await r.start();
    t.equal(r.snapshot().state, 'ready', r.snapshot().error ?? 'loaded');

    const { result } = await r.infer(await sourceFrame());
    if (result.task !== 'detection') throw new Error('detection expected');
    const got = [...result.detections].sort((a, b) => b.score - a.score);
    const want = spec.expected
      .map((e) => ({ ...e, score: format === 'yolov5' ? e.scoreYolov5 : e.score }))
      .sort((a, b) => b.score - a.score);
    t.equal(got.length, want.length, `${got.length} boxes`);
    for (const [i, w] of want.entries()) {
      const g = got[i];
      t.equal(g?.label, w.label, `box ${i} label`);
      t.ok(Math.abs((g?.score ?? 0) - w.score) < 1e-3, `box ${i} score ${g?.score} ~ ${w.score}`);
      const off = Math.max(...w.sourceBox.map((v, k) => Math.abs(v - (g?.box[k] ?? Number.NaN))));
      t.ok(off <= 0.5, `box ${i} [${g?.box.join(', ')}] within 0.5 px of [${w.sourceBox.join(', ')}]`);
    }
  });
}
