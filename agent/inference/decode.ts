import { AgentError, ErrorCodes } from '../errors.js';
import { type AnomalyMap, decodeAnomaly, type RawOutput } from './anomaly.js';
import { decodeClassification } from './classification.js';
import { decodeDetection } from './detection.js';
import { fromFloat16Array } from './float16.js';
import type { ModelManifest } from './manifest-schema.js';
import type { Geometry } from './preprocess.js';
import type { WireTensor } from './protocol.js';
import type { TaskResult } from './result.js';

export interface Decoded {
  result: TaskResult;
  maps?: { anomaly?: AnomalyMap };
}

/** Any output tensor as float32 values (float16 bits widened, integers and booleans converted). */
export function toFloat32(t: WireTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.type === 'float16' && t.data instanceof Uint16Array) return fromFloat16Array(t.data);
  if (t.data instanceof BigInt64Array) return Float32Array.from(t.data, (v) => Number(v));
  return Float32Array.from(t.data as ArrayLike<number>);
}

/**
 * A run's outputs -> the task's result, by the manifest. A NaN or infinity in any output the task reads
 * is an INFERENCE_FAILED error naming the model (the decision becomes ERROR, never a guess).
 */
export function decodeOutputs(
  outputs: Record<string, WireTensor>,
  manifest: ModelManifest,
  geometry: Geometry,
): Decoded {
  const raw: Record<string, RawOutput> = {};
  for (const spec of manifest.outputs) {
    const t = outputs[spec.name];
    if (!t) {
      throw new AgentError(
        ErrorCodes.INFERENCE_FAILED,
        `model ${manifest.id}: output "${spec.name}" missing (model gave ${Object.keys(outputs).join(', ')})`,
      );
    }
    const data = toFloat32(t);
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i] as number)) {
        throw new AgentError(
          ErrorCodes.INFERENCE_FAILED,
          `model ${manifest.id}: output "${spec.name}" contains NaN or infinite values (at index ${i})`,
        );
      }
    }
    raw[spec.name] = { data, dims: t.dims };
  }
  if (manifest.task === 'classification') {
    return { result: { task: 'classification', scores: decodeClassification(raw, manifest) } };
  }
  if (manifest.task === 'detection') {
    const spec = manifest.outputs.find((o) => o.role === 'detections');
    const out = spec && raw[spec.name];
    if (!spec || !out)
      throw new AgentError(ErrorCodes.MODEL_MANIFEST, `model ${manifest.id}: no detections output`);
    return {
      result: {
        task: 'detection',
        detections: decodeDetection(out.data, out.dims, manifest, spec.format, geometry),
      },
    };
  }
  const a = decodeAnomaly(raw, manifest);
  return {
    result: { task: 'anomaly', score: a.score, threshold: a.threshold },
    ...(a.map ? { maps: { anomaly: a.map } } : {}),
  };
}
