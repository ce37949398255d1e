import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { tempDir } from './agent-process.js';

const { onnx } = onnxProto;
type Dim = number | string;
export type ElemType = 'float32' | 'uint8' | 'float16';

const ELEM: Record<ElemType, number> = { float32: 1, uint8: 2, float16: 10 };

export interface ConstOutput {
  name: string;
  dims: number[];
  /** float32 values; the output is exactly these, whatever the input */
  values: ArrayLike<number>;
  /** cast the output (anomalib's pred_label is a bool tensor) */
  cast?: 'bool' | 'float16';
}

export interface TestModelSpec {
  input?: { name: string; type?: ElemType; shape: Dim[] };
  /** outputs that are constants (the input is read only through a ReduceSum multiplied by 0) */
  outputs?: ConstOutput[];
  /** instead of constants: outputs computed from the input by these nodes */
  nodes?: onnxProto.onnx.INodeProto[];
  graphOutputs?: { name: string; type?: ElemType; shape: Dim[] }[];
  metadata?: Record<string, string>;
  opset?: number;
  /** outputs turn NaN when the input's sum is positive (a real frame) but not for an all-zero warm-up */
  nanOnRealInput?: boolean;
  /** add a QuantizeLinear/DequantizeLinear pair on the input path (what int8 QDQ models look like) */
  qdq?: boolean;
}

function valueInfo(name: string, type: ElemType, shape: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * Builds a small ONNX model whose outputs are known constants, so decoders can be checked against expected
 * boxes without a trained network. The input is consumed (ReduceSum * 0 added to each output) so that
 * onnxruntime keeps it as a real input with its declared shape.
 */
export function buildModel(spec: TestModelSpec): Uint8Array {
  const input = spec.input ?? { name: 'images', type: 'float32' as const, shape: [1, 3, 32, 32] };
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const initializers: onnxProto.onnx.ITensorProto[] = [];
  const outputs: onnxProto.onnx.IValueInfoProto[] = [];
  if (spec.nodes) {
    nodes.push(...spec.nodes);
    for (const o of spec.graphOutputs ?? []) outputs.push(valueInfo(o.name, o.type ?? 'float32', o.shape));
  } else {
    let source = input.name;
    if ((input.type ?? 'float32') !== 'float32') {
      nodes.push({
        opType: 'Cast',
        input: [input.name],
        output: ['in_f'],
        attribute: [{ name: 'to', type: 2, i: 1 }],
      });
      source = 'in_f';
    }
    nodes.push({
      opType: 'ReduceSum',
      input: [source],
      output: ['in_sum'],
      attribute: [{ name: 'keepdims', type: 2, i: 0 }],
    });
    initializers.push({ name: 'zero', dataType: 1, dims: [], floatData: [0] });
    nodes.push({ opType: 'Mul', input: ['in_sum', 'zero'], output: ['in_zero0'] });
    if (spec.qdq) {
      initializers.push({ name: 'q_scale', dataType: 1, dims: [], floatData: [0.1] });
      initializers.push({ name: 'q_zp', dataType: 3, dims: [], int32Data: [0] });
      nodes.push({ opType: 'QuantizeLinear', input: ['in_zero0', 'q_scale', 'q_zp'], output: ['in_q'] });
      nodes.push({ opType: 'DequantizeLinear', input: ['in_q', 'q_scale', 'q_zp'], output: ['in_zero1'] });
    } else {
      nodes.push({ opType: 'Identity', input: ['in_zero0'], output: ['in_zero1'] });
    }
    if (spec.nanOnRealInput) {
      nodes.push({ opType: 'Neg', input: ['in_sum'], output: ['in_neg'] });
      nodes.push({ opType: 'Sqrt', input: ['in_neg'], output: ['in_sqrt'] });
      nodes.push({ opType: 'Add', input: ['in_zero1', 'in_sqrt'], output: ['in_zero'] });
    } else {
      nodes.push({ opType: 'Identity', input: ['in_zero1'], output: ['in_zero'] });
    }
    for (const o of spec.outputs ?? []) {
      initializers.push({ name: `${o.name}_c`, dataType: 1, dims: o.dims, floatData: Array.from(o.values) });
      if (o.cast) {
        const to = o.cast === 'bool' ? 9 : 10;
        nodes.push({ opType: 'Add', input: [`${o.name}_c`, 'in_zero'], output: [`${o.name}_f`] });
        nodes.push({
          opType: 'Cast',
          input: [`${o.name}_f`],
          output: [o.name],
          attribute: [{ name: 'to', type: 2, i: to }],
        });
        outputs.push({
          ...valueInfo(o.name, 'float32', o.dims),
          type: { tensorType: { elemType: to, shape: { dim: o.dims.map((d) => ({ dimValue: d })) } } },
        });
      } else {
        nodes.push({ opType: 'Add', input: [`${o.name}_c`, 'in_zero'], output: [o.name] });
        outputs.push(valueInfo(o.name, 'float32', o.dims));
      }
    }
  }
  const model: onnxProto.onnx.IModelProto = {
    irVersion: 8,
    producerName: 'edge-agent-test',
    opsetImport: [{ domain: '', version: spec.opset ?? 13 }],
    graph: {
      name: 'test',
      node: nodes,
      initializer: initializers,
      input: [valueInfo(input.name, input.type ?? 'float32', input.shape)],
      output: outputs,
    },
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
}

/** Writes a model (and optionally its manifest) into a fresh folder; returns the model's path. */
export function writeModel(
  bytes: Uint8Array,
  manifest?: unknown,
  extra: Record<string, string> = {},
): string {
  const dir = tempDir('eva-model-');
  const path = join(dir, 'model.onnx');
  writeFileSync(path, bytes);
  if (manifest !== undefined) writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
  return path;
}
