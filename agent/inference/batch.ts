import type { Tensor } from './preprocess.js';
import type { WireTensor } from './protocol.js';

/**
 * Frames' tensors ([1, ...] each, same shape and type) stacked along the first dimension into one
 * [n, ...] input.
 */
export function stackTensors(tensors: readonly Tensor[]): Tensor {
  const first = tensors[0];
  if (!first) throw new Error('stackTensors: no tensors');
  if (tensors.length === 1) return first;
  const size = first.data.length;
  const Ctor = first.data.constructor as new (n: number) => Tensor['data'];
  const data = new Ctor(size * tensors.length);
  tensors.forEach((t, i) => {
    if (t.data.length !== size || t.type !== first.type) {
      throw new Error('stackTensors: frames of different shapes cannot share a batch');
    }
    (data as Float32Array).set(t.data as Float32Array, i * size);
  });
  return { data, dims: [tensors.length, ...first.dims.slice(1)], type: first.type };
}

/**
 * A batched run's outputs split into one set per frame ([1, ...] views, no copies), or undefined when an
 * output does not carry the batch in its first dimension (then the frames must run one by one).
 */
export function splitOutputs(
  outputs: Record<string, WireTensor>,
  n: number,
): Record<string, WireTensor>[] | undefined {
  const perFrame: Record<string, WireTensor>[] = Array.from({ length: n }, () => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims[0] !== n || t.data.length % n !== 0) return undefined;
    const size = t.data.length / n;
    const dims = [1, ...t.dims.slice(1)];
    for (let i = 0; i < n; i++) {
      const data = t.data.subarray(i * size, (i + 1) * size) as WireTensor['data'];
      (perFrame[i] as Record<string, WireTensor>)[name] = { data, dims, type: t.type };
    }
  }
  return perFrame;
}
