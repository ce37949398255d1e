/**
 * `node --import tsx bench/fast-decode.ts [--frames DIR]`: what `input.fastDecode` (JPEG shrink-on-load as
 * far as sharp goes) costs in accuracy and buys in speed, on the shipped models (models/*):
 * - each model on samples/washer three ways: a full decode (the JPEG decoded to pixels first, then resized:
 *   no shrink-on-load at all), the default decode (fastDecode off: sharp still shrinks by libjpeg's DCT
 *   where at least 2x is left for the resize) and fastDecode: max |score difference| against the full
 *   decode, and how many verdicts (default camera rules) change;
 * - decode + resize CPU time per frame, the three ways, on samples/washer and on 1080p frames (--frames).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { Frame } from '../agent/capture/index.js';
import { rulesSchema } from '../agent/config/rules-schema.js';
import { judge } from '../agent/decision/index.js';
import {
  decodeOutputs,
  type LoadedManifest,
  loadManifest,
  planResize,
  preprocess,
  type TaskResult,
  toTensor,
} from '../agent/inference/index.js';
import type { InputSpec } from '../agent/inference/manifest-schema.js';

const REPO = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const framesDir = args[args.indexOf('--frames') + 1] ?? '/tmp/infer-frames';
const rules = rulesSchema.parse({});

type Way = 'full' | 'default' | 'fast';

/** The frame as pixels first: sharp cannot shrink a raw frame on load, so this is a full decode. */
async function fullFrame(data: Buffer): Promise<Frame> {
  const { data: pixels, info } = await sharp(data)
    .autoOrient()
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { kind: 'raw', data: pixels, width: info.width, height: info.height, channels: 3, capturedAt: 0 };
}

async function tensorOf(data: Buffer, input: InputSpec, way: Way) {
  if (way === 'full') return preprocess(await fullFrame(data), input);
  return preprocess({ kind: 'encoded', data, capturedAt: 0 }, { ...input, fastDecode: way === 'fast' });
}

/**
 * The full decode's cost, in one sharp call as preprocessing makes it: a pipeline colourspace turns sharp's
 * shrink-on-load off (same pixels as decoding to raw first, checked), so this is what a full decode costs.
 */
async function fullDecodeCost(data: Buffer, input: InputSpec): Promise<void> {
  const meta = await sharp(data).metadata();
  const plan = planResize(meta.width ?? 0, meta.height ?? 0, input);
  let pipeline = sharp(data)
    .pipelineColourspace('srgb')
    .autoOrient()
    .resize(plan.resizeWidth, plan.resizeHeight, { fit: 'fill', kernel: 'linear' })
    .toColourspace('srgb');
  if (plan.pad) pipeline = pipeline.extend({ ...plan.pad, background: { r: 114, g: 114, b: 114 } });
  toTensor(await pipeline.raw().toBuffer(), input);
}

async function decodeOnce(data: Buffer, input: InputSpec, way: Way): Promise<void> {
  if (way === 'full') await fullDecodeCost(data, input);
  else await preprocess({ kind: 'encoded', data, capturedAt: 0 }, { ...input, fastDecode: way === 'fast' });
}

/** The largest score that moved: class probabilities, the anomaly score, or matched detection scores. */
function scoreDiff(a: TaskResult, b: TaskResult): number {
  if (a.task === 'classification' && b.task === 'classification') {
    return Math.max(...Object.keys(a.scores).map((k) => Math.abs((a.scores[k] ?? 0) - (b.scores[k] ?? 0))));
  }
  if (a.task === 'anomaly' && b.task === 'anomaly') return Math.abs(a.score - b.score);
  if (a.task === 'detection' && b.task === 'detection') {
    // each box against the best-overlapping box of the same label; an unmatched box counts its whole score
    let worst = 0;
    for (const d of a.detections) {
      const m = b.detections.find((e) => e.label === d.label && iou(d.box, e.box) > 0.5);
      worst = Math.max(worst, m ? Math.abs(m.score - d.score) : d.score);
    }
    for (const e of b.detections) {
      if (!a.detections.some((d) => d.label === e.label && iou(d.box, e.box) > 0.5))
        worst = Math.max(worst, e.score);
    }
    return worst;
  }
  return Number.NaN;
}

function iou(a: number[], b: number[]): number {
  const w = Math.min(a[2] as number, b[2] as number) - Math.max(a[0] as number, b[0] as number);
  const h = Math.min(a[3] as number, b[3] as number) - Math.max(a[1] as number, b[1] as number);
  if (w <= 0 || h <= 0) return 0;
  const area = (x: number[]) => ((x[2] as number) - (x[0] as number)) * ((x[3] as number) - (x[1] as number));
  return (w * h) / (area(a) + area(b) - w * h);
}

async function judgeAll(loaded: LoadedManifest, images: Buffer[], way: Way) {
  const session = await ort.InferenceSession.create(loaded.modelPath);
  const { manifest } = loaded;
  const out: { result: TaskResult; verdict: string }[] = [];
  for (const data of images) {
    const pre = await tensorOf(data, manifest.input, way);
    const t = pre.tensor;
    const feeds = { [manifest.input.name]: new ort.Tensor(t.type, t.data, t.dims) };
    const results = await session.run(feeds);
    const outputs = Object.fromEntries(
      Object.entries(results).map(([k, v]) => [
        k,
        { data: v.data as Float32Array, dims: v.dims, type: v.type },
      ]),
    );
    const { result } = decodeOutputs(outputs, manifest, pre.geometry);
    out.push({ result, verdict: judge(result, rules, manifest.labels).outcome.verdict });
  }
  await session.release();
  return out;
}

/**
 * CPU ms per frame (process CPU: sharp decodes on libuv's threads), the median of `rounds` passes: CPU time,
 * not wall time, since this machine is shared and a busy neighbour stretches the wall clock.
 */
async function timeDecode(images: Buffer[], input: InputSpec, way: Way, rounds = 7): Promise<number> {
  const passes: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    for (const data of images) await decodeOnce(data, input, way);
    const c = process.cpuUsage(c0);
    passes.push((c.user + c.system) / 1000 / images.length);
  }
  return passes.sort((a, b) => a - b)[Math.floor(rounds / 2)] as number;
}

const samples = readdirSync(join(REPO, 'samples/washer'))
  .filter((f) => f.endsWith('.jpg'))
  .sort()
  .map((f) => readFileSync(join(REPO, 'samples/washer', f)));
const models = readdirSync(join(REPO, 'models'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

console.log(`samples/washer: ${samples.length} frames, 640x480; default camera rules\n`);
console.log(
  '| model | input | max score diff default / fast (vs full) | verdicts changed default / fast (vs full) |',
);
console.log('|---|---|---|---|');
for (const name of models) {
  const loaded = loadManifest(join(REPO, 'models', name, 'model.onnx'));
  const { input } = loaded.manifest;
  const full = await judgeAll(loaded, samples, 'full');
  const cells: string[] = [];
  const changes: string[] = [];
  for (const way of ['default', 'fast'] as const) {
    const got = await judgeAll(loaded, samples, way);
    const diff = Math.max(
      ...got.map((g, i) => scoreDiff((full[i] as { result: TaskResult }).result, g.result)),
    );
    cells.push(diff.toFixed(4));
    changes.push(`${got.filter((g, i) => g.verdict !== full[i]?.verdict).length}/${got.length}`);
  }
  console.log(
    `| ${name} | ${input.width}x${input.height} ${input.resize} | ${cells.join(' / ')} | ${changes.join(' / ')} |`,
  );
}

const hd = readdirSync(framesDir)
  .filter((f) => f.endsWith('.jpg'))
  .sort()
  .slice(0, 16)
  .map((f) => readFileSync(join(framesDir, f)));
const spec = (width: number, height: number, resize: InputSpec['resize']): InputSpec => ({
  name: 'x',
  dtype: 'float32',
  layout: 'NCHW',
  width,
  height,
  colorOrder: 'RGB',
  resize,
  padValue: 114,
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  normalizedInGraph: false,
});
console.log('\ndecode + resize + tensor, CPU ms per frame (median of 7 passes, one frame at a time)\n');
console.log('| frames | model input | full | default | fastDecode |');
console.log('|---|---|---|---|---|');
for (const [label, images, inputs] of [
  ['samples/washer 640x480', samples, [spec(128, 128, 'stretch'), spec(256, 256, 'letterbox')]],
  [
    '1080p (--frames)',
    hd,
    [
      spec(128, 128, 'stretch'),
      spec(224, 224, 'stretch'),
      spec(256, 256, 'letterbox'),
      spec(640, 640, 'letterbox'),
    ],
  ],
] as const) {
  for (const input of inputs) {
    const ms = [];
    for (const way of ['full', 'default', 'fast'] as const)
      ms.push((await timeDecode([...images], input, way)).toFixed(2));
    console.log(`| ${label} | ${input.width}x${input.height} ${input.resize} | ${ms.join(' | ')} |`);
  }
}
