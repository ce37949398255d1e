import { resolve } from 'node:path';
import { AgentError, ErrorCodes } from '../errors.js';
import { READ_LIMITS, readTextLimited } from '../read-limited.js';
import { detectionLayout } from './detection-layout.js';
import type {
  AnomalyNormalization,
  InputSpec,
  ModelManifest,
  OutputSpec,
  RawManifest,
  Task,
} from './manifest-schema.js';
import { type OnnxInfo, readUltralyticsMeta, type TensorInfo } from './onnx-info.js';

interface Context {
  defaultId: string;
  sha256: string;
  /** the manifest's folder: relative paths (anomalib metadata) resolve here */
  dir: string;
  modelPath: string;
}

/**
 * Fills what the manifest leaves out from the model (graph, Ultralytics metadata_props) and checks what it
 * states against the model: input name, size, dtype, and outputs that fit the task. A mismatch is a
 * MODEL_MANIFEST error naming the model and the problem, raised before any worker starts.
 */
export function resolveManifest(raw: RawManifest, onnx: OnnxInfo, ctx: Context): ModelManifest {
  const meta = readUltralyticsMeta(onnx.metadata, onnx.outputs);
  const id = raw.id ?? ctx.defaultId;
  const fail = (problem: string): never => {
    throw new AgentError(ErrorCodes.MODEL_MANIFEST, `model ${id} (${ctx.modelPath}): ${problem}`);
  };
  const task: Task =
    raw.task ??
    meta.task ??
    fail(
      meta.unsupportedTask
        ? `Ultralytics task "${meta.unsupportedTask}" is not supported (classification, detection, anomaly)`
        : 'manifest has no task and the model metadata names none',
    );
  const input = resolveInput(raw, onnx, meta, task, fail);
  const labels =
    raw.labels ??
    meta.names ??
    (task === 'anomaly' ? [] : fail('no labels in the manifest or model metadata'));
  const outputs = resolveOutputs(raw, onnx, task, fail, meta.legacyYolov5 === true);
  checkOutputs(outputs, onnx, task, labels, meta.end2end, fail);
  const manifest: ModelManifest = {
    schema: 1,
    id,
    sha256: raw.sha256,
    description: raw.description ?? meta.description,
    detection: raw.detection,
    anomaly: raw.anomaly,
    batch: raw.batch,
    golden: raw.golden,
    version: raw.version ?? ctx.sha256.slice(0, 12),
    task,
    input,
    outputs,
    labels,
  };
  if (task === 'detection' && meta.end2end) {
    manifest.outputs = outputs.map((o) =>
      o.role === 'detections' && !o.format ? { ...o, format: 'end2end' } : o,
    );
  }
  if (task === 'anomaly' && !outputs.some((o) => o.role === 'pred_score')) {
    manifest.anomalyNormalization = anomalyNormalization(raw, ctx, fail);
  }
  checkGolden(manifest, fail);
  checkBatch(manifest, onnx, fail);
  return manifest;
}

/**
 * Batching stacks frames along the first dimension of the input and splits every output along its own
 * first: both must be free in the graph (a fixed 1 keeps one frame per run, and saying otherwise is refused).
 */
function checkBatch(m: ModelManifest, onnx: OnnxInfo, fail: (p: string) => never): void {
  if (!m.batch || m.batch.max === 1) return;
  const fixed = [...onnx.inputs.filter((i) => i.name === m.input.name), ...onnx.outputs].find(
    (t) => typeof t.shape[0] === 'number' || t.shape.length === 0,
  );
  if (fixed) {
    fail(
      `batch.max ${m.batch.max} needs a free batch dimension, but "${fixed.name}" has shape [${fixed.shape.join(', ')}]; leave batch.max at 1`,
    );
  }
}

function resolveInput(
  raw: RawManifest,
  onnx: OnnxInfo,
  meta: ReturnType<typeof readUltralyticsMeta>,
  task: Task,
  fail: (p: string) => never,
): InputSpec {
  const given = raw.input;
  const graphInput: TensorInfo | undefined = given.name
    ? onnx.inputs.find((i) => i.name === given.name)
    : onnx.inputs[0];
  if (!graphInput) {
    return fail(
      `manifest input "${given.name}" is not a model input (${onnx.inputs.map((i) => i.name).join(', ')})`,
    );
  }
  if (onnx.inputs.length > 1)
    fail(`the model has ${onnx.inputs.length} inputs; only single-image models run`);
  const shape = graphInput.shape;
  if (shape.length !== 4)
    fail(`input "${graphInput.name}" has shape [${shape.join(', ')}]; an image input is 4-D`);
  const layout = given.layout ?? (shape[3] === 3 && shape[1] !== 3 ? 'NHWC' : 'NCHW');
  const [hDim, wDim, cDim] =
    layout === 'NCHW' ? [shape[2], shape[3], shape[1]] : [shape[1], shape[2], shape[3]];
  const staticH = typeof hDim === 'number' ? hDim : undefined;
  const staticW = typeof wDim === 'number' ? wDim : undefined;
  const height = given.height ?? meta.imgsz?.[0] ?? staticH;
  const width = given.width ?? meta.imgsz?.[1] ?? staticW;
  if (!width || !height)
    return fail(`input size unknown: the model's input is [${shape.join(', ')}]; set input.width/height`);
  if ((staticW !== undefined && staticW !== width) || (staticH !== undefined && staticH !== height)) {
    fail(
      `the model expects input "${graphInput.name}" of ${staticW ?? '?'}x${staticH ?? '?'} ([${shape.join(', ')}], ${layout}) but the manifest says ${width}x${height}`,
    );
  }
  if (typeof cDim === 'number' && cDim !== 3) {
    fail(
      `input "${graphInput.name}" has ${cDim} channels in ${layout} layout ([${shape.join(', ')}]); 3 (RGB/BGR) expected`,
    );
  }
  if (typeof shape[0] === 'number' && shape[0] !== 1)
    fail(`input batch is fixed at ${shape[0]}; batch 1 (or free) expected`);
  const graphType = graphInput.type;
  if (!['float32', 'uint8', 'float16'].includes(graphType)) fail(`input type ${graphType} is not supported`);
  const dtype = given.dtype ?? (graphType as InputSpec['dtype']);
  if (dtype !== graphType) fail(`the manifest feeds ${dtype} but input "${graphInput.name}" is ${graphType}`);
  const resize =
    given.resize ??
    (task === 'detection'
      ? 'letterbox'
      : task === 'classification' && meta.task
        ? 'shortside-centercrop'
        : 'stretch');
  return { ...given, name: graphInput.name, dtype, layout, width, height, resize };
}

function resolveOutputs(
  raw: RawManifest,
  onnx: OnnxInfo,
  task: Task,
  fail: (p: string) => never,
  legacyYolov5 = false,
): OutputSpec[] {
  const names = onnx.outputs.map((o) => o.name);
  if (raw.outputs) {
    for (const o of raw.outputs) {
      if (!names.includes(o.name))
        fail(`manifest output "${o.name}" is not a model output (${names.join(', ')})`);
    }
    return raw.outputs;
  }
  const first = names[0] as string;
  // a YOLOv5-repository classifier gives logits (its predict.py applies softmax); Ultralytics' already did
  if (task === 'classification') {
    return [{ name: first, role: 'scores', activation: legacyYolov5 ? 'softmax' : 'none' }];
  }
  if (task === 'detection') return [{ name: first, role: 'detections', activation: 'none' }];
  const byRole = (['pred_score', 'pred_label', 'anomaly_map', 'pred_mask'] as const)
    .filter((role) => names.includes(role))
    .map((role) => ({ name: role, role, activation: 'none' as const }));
  if (byRole.length > 0) return byRole;
  // anomalib v1: one output, the anomaly map
  return [{ name: first, role: 'anomaly_map', activation: 'none' }];
}

const ROLES: Record<Task, readonly string[]> = {
  classification: ['scores'],
  detection: ['detections'],
  anomaly: ['pred_score', 'pred_label', 'anomaly_map', 'pred_mask'],
};

function checkOutputs(
  outputs: OutputSpec[],
  onnx: OnnxInfo,
  task: Task,
  labels: string[],
  end2end: boolean | undefined,
  fail: (p: string) => never,
): void {
  for (const o of outputs) {
    if (!ROLES[task].includes(o.role)) fail(`output role "${o.role}" does not belong to task ${task}`);
  }
  const shapeOf = (name: string) => onnx.outputs.find((o) => o.name === name)?.shape ?? [];
  if (task === 'classification') {
    const spec =
      outputs.find((o) => o.role === 'scores') ?? fail('classification needs an output with role scores');
    const shape = shapeOf(spec.name);
    const count = shape.every((d) => typeof d === 'number')
      ? (shape as number[]).reduce((a, b) => a * b, 1)
      : null;
    if (count !== null && count !== labels.length) {
      fail(
        `output "${spec.name}" has shape [${shape.join(', ')}] (${count} values) for ${labels.length} labels`,
      );
    }
  } else if (task === 'detection') {
    const spec =
      outputs.find((o) => o.role === 'detections') ?? fail('detection needs an output with role detections');
    const shape = shapeOf(spec.name);
    const problem = detectionLayout(
      shape,
      labels.length,
      spec.format ?? (end2end ? 'end2end' : undefined),
    ).problem;
    if (problem) fail(`output "${spec.name}": ${problem}`);
  } else if (!outputs.some((o) => o.role === 'pred_score' || o.role === 'anomaly_map')) {
    fail('anomaly needs an output with role pred_score or anomaly_map');
  }
}

function anomalyNormalization(
  raw: RawManifest,
  ctx: Context,
  fail: (p: string) => never,
): AnomalyNormalization {
  const a = raw.anomaly;
  if (a.imageThreshold !== undefined && a.min !== undefined && a.max !== undefined) {
    return { imageThreshold: a.imageThreshold, min: a.min, max: a.max };
  }
  if (!a.metadata) {
    return fail(
      'an anomalib v1 export (no pred_score) needs anomaly.metadata (its metadata.json) or imageThreshold/min/max',
    );
  }
  const path = resolve(ctx.dir, a.metadata);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readTextLimited(path, READ_LIMITS.manifest, 'anomalib metadata')) as Record<
      string,
      unknown
    >;
  } catch (err) {
    return fail(`cannot read anomalib metadata ${path}: ${(err as Error).message}`);
  }
  // anomalib >= 0.7 splits pred_scores.min/max from anomaly_maps.min/max; older versions wrote one min/max
  const num = (...keys: string[]) =>
    keys.map((k) => json[k]).find((v) => typeof v === 'number') as number | undefined;
  const imageThreshold = num('image_threshold');
  const min = num('pred_scores.min', 'min');
  const max = num('pred_scores.max', 'max');
  if (imageThreshold === undefined || min === undefined || max === undefined || !(max > min)) {
    return fail(`anomalib metadata ${path} lacks image_threshold and min < max`);
  }
  return { imageThreshold, min, max };
}

function checkGolden(m: ModelManifest, fail: (p: string) => never): void {
  for (const g of m.golden) {
    const e = g.expect;
    if (m.task === 'classification' && !e.label)
      fail(`golden ${g.image}: a classification golden needs expect.label`);
    if (m.task === 'detection' && !e.detections)
      fail(`golden ${g.image}: a detection golden needs expect.detections`);
    if (m.task === 'anomaly' && e.anomalous === undefined)
      fail(`golden ${g.image}: an anomaly golden needs expect.anomalous`);
    const labels = [e.label, ...(e.detections ?? []).map((d) => d.label)].filter((l): l is string => !!l);
    for (const l of labels)
      if (!m.labels.includes(l)) fail(`golden ${g.image}: label "${l}" is not one of the model's labels`);
  }
}
