import { AgentError, ErrorCodes } from '../errors.js';
import type { ModelManifest } from './manifest-schema.js';

export interface AnomalyMap {
  width: number;
  height: number;
  data: Float32Array;
}

export interface AnomalyDecoded {
  /** normalised score in [0, 1]; NG at or above threshold */
  score: number;
  threshold: number;
  /** the model's own label when it gives one (anomalib v2 pred_label) */
  predLabel?: boolean;
  map?: AnomalyMap;
}

export interface RawOutput {
  data: Float32Array;
  dims: readonly number[];
}

/** anomalib's normalize_min_max: ((x - threshold) / (max - min)) + 0.5, clipped to [0, 1]. */
export function normalizeMinMax(value: number, threshold: number, min: number, max: number): number {
  return Math.min(1, Math.max(0, (value - threshold) / (max - min) + 0.5));
}

/** The last two dimensions of a map output ([1,1,H,W], [1,H,W] or [H,W]) as width x height. */
function asMap(out: RawOutput, id: string, name: string): AnomalyMap {
  const h = out.dims[out.dims.length - 2];
  const w = out.dims[out.dims.length - 1];
  if (out.dims.length < 2 || !h || !w || h * w !== out.data.length) {
    throw new AgentError(
      ErrorCodes.INFERENCE_FAILED,
      `model ${id}: output "${name}" of shape [${out.dims.join(', ')}] is not one anomaly map`,
    );
  }
  return { width: w, height: h, data: out.data };
}

/**
 * anomalib exports -> one normalised score.
 * v2: `pred_score` is already normalised (threshold 0.5 by construction); the map is kept as given.
 * v1: one raw `anomaly_map`; the score is its maximum, normalised with the image threshold and min/max
 *     from anomalib's metadata.json, exactly as anomalib's own inferencers do.
 */
export function decodeAnomaly(outputs: Record<string, RawOutput>, manifest: ModelManifest): AnomalyDecoded {
  const get = (role: string) => {
    const spec = manifest.outputs.find((o) => o.role === role);
    if (!spec) return undefined;
    const out = outputs[spec.name];
    if (!out) {
      throw new AgentError(
        ErrorCodes.INFERENCE_FAILED,
        `model ${manifest.id}: output "${spec.name}" missing (model gave ${Object.keys(outputs).join(', ')})`,
      );
    }
    return { name: spec.name, out };
  };
  const threshold = manifest.anomaly.threshold;
  const mapOut = get('anomaly_map');
  const map = mapOut ? asMap(mapOut.out, manifest.id, mapOut.name) : undefined;
  const scoreOut = get('pred_score');
  const labelOut = get('pred_label');
  let score: number;
  if (scoreOut) {
    if (scoreOut.out.data.length !== 1) {
      throw new AgentError(
        ErrorCodes.INFERENCE_FAILED,
        `model ${manifest.id}: pred_score has ${scoreOut.out.data.length} values, one expected`,
      );
    }
    score = scoreOut.out.data[0] as number;
  } else if (map) {
    let max = -Infinity;
    for (let i = 0; i < map.data.length; i++) if ((map.data[i] as number) > max) max = map.data[i] as number;
    const n = manifest.anomalyNormalization;
    score = n ? normalizeMinMax(max, n.imageThreshold, n.min, n.max) : max;
  } else {
    throw new AgentError(
      ErrorCodes.INFERENCE_FAILED,
      `model ${manifest.id}: neither pred_score nor anomaly_map`,
    );
  }
  if (!Number.isFinite(score)) {
    throw new AgentError(ErrorCodes.INFERENCE_FAILED, `model ${manifest.id}: anomaly score is ${score}`);
  }
  return {
    score: Math.round(score * 1e4) / 1e4,
    threshold,
    ...(labelOut ? { predLabel: (labelOut.out.data[0] as number) !== 0 } : {}),
    ...(map ? { map } : {}),
  };
}
