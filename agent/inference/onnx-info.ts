import onnxProto from 'onnx-proto';
import { AgentError, ErrorCodes } from '../errors.js';

const { onnx } = onnxProto;

export type Dim = number | string;

export interface TensorInfo {
  name: string;
  /** onnxruntime's names: float32, uint8, float16, int64, bool, ... */
  type: string;
  /** numbers for fixed dimensions, the symbol (or '?') for free ones */
  shape: Dim[];
}

export type Precision = 'fp32' | 'fp16' | 'int8' | 'mixed';

/** What the agent reads from the ONNX file itself (onnxruntime-node exposes no metadata_props). */
export interface OnnxInfo {
  opset: number;
  producer: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** metadata_props as stored (Ultralytics: Python `str()` of its values) */
  metadata: Record<string, string>;
  precision: Precision;
  /** Quantisation nodes (QuantizeLinear/DequantizeLinear, QLinear*, integer ops) in the graph. */
  quantNodes: number;
  /** Weight (initializer) elements by the type they are stored in. */
  weights: { fp32: number; fp16: number; int8: number };
}

const QUANT_OPS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'QLinearConv',
  'QLinearMatMul',
  'ConvInteger',
  'MatMulInteger',
  'DynamicQuantizeLinear',
]);
const T = onnx.TensorProto.DataType;

const ELEM_TYPES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};

function tensorInfo(v: onnxProto.onnx.IValueInfoProto): TensorInfo {
  const t = v.type?.tensorType;
  return {
    name: v.name ?? '',
    type: ELEM_TYPES[t?.elemType ?? 0] ?? `onnx-type-${t?.elemType ?? 0}`,
    shape: (t?.shape?.dim ?? []).map((d) =>
      d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0
        ? Number(d.dimValue)
        : d.dimParam || '?',
    ),
  };
}

/**
 * Decodes a model file's graph header: inputs (initializers excluded), outputs, opset, metadata_props and
 * precision (see precisionOf). Throws MODEL_LOAD when the bytes are not an ONNX model.
 */
export function readOnnxInfo(bytes: Uint8Array, path: string): OnnxInfo {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new AgentError(ErrorCodes.MODEL_LOAD, `${path} is not an ONNX model: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const graph = model.graph;
  // protobuf decodes many byte strings without complaint: a model has a graph with at least one input/output
  if (!graph?.output?.length || !graph.input?.length || !model.opsetImport?.length) {
    throw new AgentError(
      ErrorCodes.MODEL_LOAD,
      `${path} is not an ONNX model (no graph inputs/outputs found)`,
    );
  }
  const initializers = new Set((graph.initializer ?? []).map((i) => i.name));
  const inputs = graph.input.filter((i) => !initializers.has(i.name ?? '')).map(tensorInfo);
  const nodes = [...(graph.node ?? []), ...(model.functions ?? []).flatMap((f) => f.node ?? [])];
  const quantNodes = nodes.filter((n) => QUANT_OPS.has(n.opType ?? '')).length;
  const weights = { fp32: 0, fp16: 0, int8: 0 };
  for (const t of graph.initializer ?? []) {
    const n = (t.dims ?? []).reduce((a: number, d) => a * Number(d), 1);
    if (t.dataType === T.FLOAT) weights.fp32 += n;
    else if (t.dataType === T.FLOAT16 || t.dataType === T.BFLOAT16) weights.fp16 += n;
    else if (t.dataType === T.INT8 || t.dataType === T.UINT8) weights.int8 += n;
  }
  const opset = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version;
  return {
    opset: Number(opset ?? 0),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    inputs,
    outputs: graph.output.map(tensorInfo),
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
    precision: precisionOf(quantNodes, weights, inputs),
    quantNodes,
    weights,
  };
}

/**
 * Quantisation nodes mean int8 (QDQ); otherwise the type most weights are stored in: fp16 when (nearly) all
 * are, mixed when both are common; a float16 input also means fp16 (that is what the agent feeds it).
 */
function precisionOf(quantNodes: number, weights: OnnxInfo['weights'], inputs: TensorInfo[]): Precision {
  if (quantNodes > 0) return 'int8';
  if (weights.fp16 > 0 && weights.fp32 > 0) return weights.fp16 >= 9 * weights.fp32 ? 'fp16' : 'mixed';
  if (weights.fp16 > 0 || inputs.some((i) => i.type === 'float16')) return 'fp16';
  return 'fp32';
}

/** What Ultralytics' exporter wrote, parsed from Python literals. Absent keys stay undefined. */
export interface UltralyticsMeta {
  names?: string[];
  imgsz?: [number, number];
  stride?: number;
  task?: 'classification' | 'detection' | 'anomaly';
  /** the raw task name when it is one the agent does not run (segment, pose, obb) */
  unsupportedTask?: string;
  end2end?: boolean;
  description?: string;
  /** a YOLOv5-repository export (stride and names only): its classifiers give logits, not probabilities */
  legacyYolov5?: boolean;
}

const TASKS: Record<string, UltralyticsMeta['task']> = { detect: 'detection', classify: 'classification' };

/**
 * `outputs` (the graph's) lets a legacy export be recognised: the YOLOv5 repository's `export.py` writes
 * only `stride` and `names` (no `task`, no `imgsz`); one 3-D output is then a detector (`[1, N, 5+nc]`),
 * one 2-D output a classifier (`[1, nc]`, yolov5 classify). Its segmentation export (two outputs) is
 * named as unsupported.
 */
export function readUltralyticsMeta(
  metadata: Record<string, string>,
  outputs?: readonly TensorInfo[],
): UltralyticsMeta {
  const meta: UltralyticsMeta = {};
  if (metadata.names) {
    // {0: 'person', 1: "o'clock"}: integer keys, Python quoted strings
    const quoted = `(?:'((?:[^'\\\\]|\\\\.)*)'|"((?:[^"\\\\]|\\\\.)*)")`;
    const entries = [...metadata.names.matchAll(new RegExp(`(\\d+)\\s*:\\s*${quoted}`, 'g'))];
    const names: string[] = [];
    for (const m of entries) names[Number(m[1])] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
    // older YOLOv5 exports wrote a list: ['person', 'bicycle']
    if (entries.length === 0 && metadata.names.trim().startsWith('[')) {
      for (const m of metadata.names.matchAll(new RegExp(quoted, 'g'))) {
        names.push((m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1'));
      }
    }
    if (names.length > 0 && names.every((n) => typeof n === 'string')) meta.names = names;
  }
  if (metadata.imgsz) {
    const nums = metadata.imgsz.match(/\d+/g)?.map(Number) ?? [];
    // Ultralytics stores [h, w]; a single value means square
    if (nums.length === 1) meta.imgsz = [nums[0] as number, nums[0] as number];
    else if (nums.length >= 2) meta.imgsz = [nums[0] as number, nums[1] as number];
  }
  if (metadata.stride && /^\d+$/.test(metadata.stride.trim())) meta.stride = Number(metadata.stride);
  if (metadata.task) {
    const task = TASKS[metadata.task.trim()];
    if (task) meta.task = task;
    else meta.unsupportedTask = metadata.task.trim();
  }
  if (metadata.end2end) meta.end2end = metadata.end2end.trim() === 'True';
  if (metadata.description) meta.description = metadata.description;
  if (!metadata.task && outputs && meta.names && meta.stride !== undefined) {
    const rank = outputs[0]?.shape.length;
    meta.legacyYolov5 = true;
    if (outputs.length === 1 && rank === 3) meta.task = 'detection';
    else if (outputs.length === 1 && rank === 2) meta.task = 'classification';
    else meta.unsupportedTask = `YOLOv5 export with ${outputs.length} outputs (segmentation?)`;
  }
  return meta;
}
