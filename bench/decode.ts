/**
 * `node --import tsx bench/decode.ts`: how long YOLO decoding (candidates + NMS + mapping back) and
 * letterbox preprocessing take on this machine, with outputs of real sizes (COCO: nc = 80).
 */
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { decodeOutputs, type ModelManifest, planResize, preprocess } from '../agent/inference/index.js';
import type { InputSpec } from '../agent/inference/manifest-schema.js';

const NC = 80;
const input: InputSpec = {
  name: 'images',
  dtype: 'float32',
  layout: 'NCHW',
  width: 640,
  height: 640,
  colorOrder: 'RGB',
  resize: 'letterbox',
  padValue: 114,
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  normalizedInGraph: false,
};

function manifest(format: 'yolov5' | 'yolov8'): ModelManifest {
  return {
    schema: 1,
    id: 'bench',
    version: '1',
    task: 'detection',
    input,
    outputs: [{ name: 'output0', role: 'detections', activation: 'none', format }],
    labels: Array.from({ length: NC }, (_, i) => `c${i}`),
    detection: { confidence: 0.25, iou: 0.45, agnostic: false, maxDetections: 300 },
    anomaly: { threshold: 0.5 },
    golden: [],
  };
}

// a deterministic output like a real one: most anchors score near zero, a few hundred around objects
function fill(n: number, stride: number, channelsFirst: boolean, objectness: boolean): Float32Array {
  const data = new Float32Array(n * stride);
  let seed = 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const set = (i: number, j: number, v: number) => {
    data[channelsFirst ? j * n + i : i * stride + j] = v;
  };
  const first = objectness ? 5 : 4;
  for (let i = 0; i < n; i++) {
    const hot = rand() < 0.03;
    set(i, 0, rand() * 640);
    set(i, 1, rand() * 640);
    set(i, 2, 10 + rand() * 100);
    set(i, 3, 10 + rand() * 100);
    if (objectness) set(i, 4, hot ? 0.9 : rand() * 0.05);
    for (let c = 0; c < NC; c++) set(i, first + c, hot && c === i % 7 ? 0.5 + rand() * 0.5 : rand() * 0.02);
  }
  return data;
}

function time(label: string, fn: () => unknown, runs = 50) {
  for (let i = 0; i < 5; i++) fn();
  const t0 = performance.now();
  let out: unknown;
  for (let i = 0; i < runs; i++) out = fn();
  const ms = (performance.now() - t0) / runs;
  const n = Array.isArray(out)
    ? out.length
    : ((out as { result?: { detections?: unknown[] } }).result?.detections?.length ?? '');
  process.stdout.write(`${label.padEnd(48)} ${ms.toFixed(2)} ms${n !== '' ? `  (${n} boxes)` : ''}\n`);
}

const geometry = planResize(1920, 1080, input).geometry;
const v8 = fill(8400, 4 + NC, true, false);
time('decode yolov8 [1,84,8400] + NMS', () =>
  decodeOutputs(
    { output0: { data: v8, dims: [1, 84, 8400], type: 'float32' } },
    manifest('yolov8'),
    geometry,
  ),
);
const v5 = fill(25200, 5 + NC, false, true);
time('decode yolov5 [1,25200,85] + NMS', () =>
  decodeOutputs(
    { output0: { data: v5, dims: [1, 25200, 85], type: 'float32' } },
    manifest('yolov5'),
    geometry,
  ),
);

const jpeg = await sharp({
  create: { width: 1920, height: 1080, channels: 3, background: { r: 120, g: 90, b: 60 } },
})
  .jpeg()
  .toBuffer();
const frame = { kind: 'encoded' as const, data: jpeg, capturedAt: 0 };
await preprocess(frame, input);
const t0 = performance.now();
const N = 20;
for (let i = 0; i < N; i++) await preprocess(frame, input);
process.stdout.write(
  `${'preprocess 1080p JPEG -> 640 letterbox tensor'.padEnd(48)} ${((performance.now() - t0) / N).toFixed(2)} ms\n`,
);
