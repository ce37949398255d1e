import { AgentError, ErrorCodes } from '../errors.js';
import type { RawOutput } from './anomaly.js';
import type { ModelManifest } from './manifest-schema.js';

/** Turns a classifier's output tensor into `{label: probability}`, checking it is what the manifest says. */
export function decodeClassification(
  outputs: Record<string, RawOutput>,
  manifest: ModelManifest,
): Record<string, number> {
  const spec = manifest.outputs.find((o) => o.role === 'scores');
  if (!spec)
    throw new AgentError(ErrorCodes.MODEL_MANIFEST, `model ${manifest.id}: manifest lists no scores output`);
  const tensor = outputs[spec.name];
  if (!tensor) {
    throw new AgentError(
      ErrorCodes.INFERENCE_FAILED,
      `model ${manifest.id}: output "${spec.name}" missing (model gave ${Object.keys(outputs).join(', ')})`,
    );
  }
  const values = Array.from(tensor.data, Number);
  if (values.length !== manifest.labels.length) {
    throw new AgentError(
      ErrorCodes.INFERENCE_FAILED,
      `model ${manifest.id}: output "${spec.name}" has ${values.length} values for ${manifest.labels.length} labels`,
    );
  }
  if (values.some((v) => !Number.isFinite(v))) {
    throw new AgentError(
      ErrorCodes.INFERENCE_FAILED,
      `model ${manifest.id}: output contains NaN or infinite values`,
    );
  }
  const probs = activate(values, spec.activation);
  return Object.fromEntries(manifest.labels.map((label, i) => [label, round4(probs[i] as number)]));
}

function activate(values: number[], activation: 'none' | 'softmax' | 'sigmoid'): number[] {
  if (activation === 'sigmoid') return values.map((v) => 1 / (1 + Math.exp(-v)));
  if (activation === 'softmax') {
    const max = Math.max(...values);
    const exps = values.map((v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / sum);
  }
  return values;
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;
