import { toFloat16Array } from './float16.js';
import type { InputSpec } from './manifest-schema.js';

export interface Tensor {
  data: Float32Array | Uint8Array | Uint16Array;
  dims: number[];
  type: 'float32' | 'uint8' | 'float16';
}

/** HWC RGB bytes -> the model's layout, colour order, dtype and normalisation. */
export function toTensor(
  rgb: Uint8Array,
  input: Pick<InputSpec, 'width' | 'height' | 'layout' | 'colorOrder' | 'dtype' | 'scale' | 'mean' | 'std'>,
): Tensor {
  const { width, height } = input;
  const plane = width * height;
  const order = input.colorOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const dims = input.layout === 'NCHW' ? [1, 3, height, width] : [1, height, width, 3];
  if (input.dtype === 'uint8') {
    const out = new Uint8Array(plane * 3);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        const v = rgb[p * 3 + (order[c] as number)] as number;
        out[input.layout === 'NCHW' ? c * plane + p : p * 3 + c] = v;
      }
    }
    return { data: out, dims, type: 'uint8' };
  }
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const src = order[c] as number;
    const mul = input.scale / input.std[c as 0 | 1 | 2];
    const add = -input.mean[c as 0 | 1 | 2] / input.std[c as 0 | 1 | 2];
    if (input.layout === 'NCHW') {
      const base = c * plane;
      for (let p = 0; p < plane; p++) out[base + p] = (rgb[p * 3 + src] as number) * mul + add;
    } else {
      for (let p = 0; p < plane; p++) out[p * 3 + c] = (rgb[p * 3 + src] as number) * mul + add;
    }
  }
  if (input.dtype === 'float16') return { data: toFloat16Array(out), dims, type: 'float16' };
  return { data: out, dims, type: 'float32' };
}
