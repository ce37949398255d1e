import { float16BitsToFloat32 } from './float16.js';
import type { InputSpec } from './manifest-schema.js';

/**
 * What the frame looked like to the model, in numbers: the per-frame image statistics drift monitoring
 * compares against a baseline (docs/drift.md). Grey levels are 0-255; shares are 0-1.
 */
export interface ImageStats {
  /** mean luma (Rec. 601) */
  brightness: number;
  /** standard deviation of luma */
  contrast: number;
  /** variance of the 4-neighbour Laplacian of luma: falls when the image is out of focus or smeared */
  sharpness: number;
  meanR: number;
  meanG: number;
  meanB: number;
  /** mean HSV saturation, (max - min) / max per pixel */
  saturation: number;
  /** share of pixels at or below CLIP_DARK */
  clippedDark: number;
  /** share of pixels at or above CLIP_BRIGHT */
  clippedBright: number;
}

/** What of the manifest's input spec the statistics need to read pixels back out of the tensor. */
export type StatsInput = Pick<
  InputSpec,
  'width' | 'height' | 'layout' | 'colorOrder' | 'dtype' | 'scale' | 'mean' | 'std'
>;

/** The part of the model input that shows the frame (a letterbox's padding is not the scene). */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The thumbnail's longer side at most: every THUMB_STRIDE-th pixel of the model input, so a 128 px input
 * is read whole and a 640 px one at a stride of 5. Enough for exposure, colour and focus, and the cost per
 * frame stays a small share of preprocessing (bench/drift.ts measures it).
 */
export const THUMB_MAX_SIDE = 128;
/** Luma at or below this is crushed black (a covered lens, a dead light); at or above CLIP_BRIGHT, blown. */
export const CLIP_DARK = 5;
export const CLIP_BRIGHT = 250;

// one scratch buffer per thread: the stats of one frame at a time are computed here
let grey = new Float32Array(0);

/**
 * The statistics of one frame from the model's input tensor (NCHW or NHWC, RGB or BGR, uint8, float32 or
 * float16 bits), undoing the manifest's normalisation, on a strided thumbnail of `region`. Runs in the
 * inference worker beside the session, so the main thread pays nothing for it; the pixels are the ones the
 * agent already decoded and resized for the model.
 */
export function imageStatsOf(
  data: Float32Array | Uint8Array | Uint16Array,
  input: StatsInput,
  region: Region = { x: 0, y: 0, width: input.width, height: input.height },
): ImageStats {
  const W = input.width;
  const plane = W * input.height;
  const stride = Math.max(1, Math.ceil(Math.max(region.width, region.height) / THUMB_MAX_SIDE));
  const tw = Math.max(1, Math.floor(region.width / stride));
  const th = Math.max(1, Math.floor(region.height / stride));
  if (grey.length < tw * th) grey = new Float32Array(tw * th);
  // tensor channel c holds source channel order[c]: find where R, G and B live
  const order = input.colorOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const chanOf = [order.indexOf(0), order.indexOf(1), order.indexOf(2)] as const;
  const nchw = input.layout === 'NCHW';
  const raw = input.dtype === 'uint8';
  const half = input.dtype === 'float16';
  // x = v * mul + add in the tensor (preprocess.ts toTensor): back to 0-255 with (v - add) / mul
  const mul = [0, 1, 2].map((c) => input.scale / (input.std[c as 0 | 1 | 2] as number));
  const add = [0, 1, 2].map(
    (c) => -(input.mean[c as 0 | 1 | 2] as number) / (input.std[c as 0 | 1 | 2] as number),
  );
  const read = (c: number, p: number): number => {
    const i = nchw ? c * plane + p : p * 3 + c;
    const v = half ? float16BitsToFloat32(data[i] as number) : (data[i] as number);
    if (raw) return v;
    return (v - (add[c] as number)) / (mul[c] as number);
  };

  let sumR = 0;
  let sumG = 0;
  let sumB = 0;
  let sumL = 0;
  let sumL2 = 0;
  let sumS = 0;
  let dark = 0;
  let bright = 0;
  for (let ty = 0; ty < th; ty++) {
    const row = (region.y + ty * stride) * W;
    for (let tx = 0; tx < tw; tx++) {
      const p = row + region.x + tx * stride;
      const r = read(chanOf[0], p);
      const g = read(chanOf[1], p);
      const b = read(chanOf[2], p);
      const l = 0.299 * r + 0.587 * g + 0.114 * b;
      grey[ty * tw + tx] = l;
      sumR += r;
      sumG += g;
      sumB += b;
      sumL += l;
      sumL2 += l * l;
      const max = Math.max(r, g, b);
      if (max > 0) sumS += (max - Math.min(r, g, b)) / max;
      if (l <= CLIP_DARK) dark++;
      else if (l >= CLIP_BRIGHT) bright++;
    }
  }
  const n = tw * th;
  const mean = sumL / n;
  return {
    brightness: mean,
    contrast: Math.sqrt(Math.max(0, sumL2 / n - mean * mean)),
    sharpness: laplacianVariance(grey, tw, th),
    meanR: sumR / n,
    meanG: sumG / n,
    meanB: sumB / n,
    saturation: sumS / n,
    clippedDark: dark / n,
    clippedBright: bright / n,
  };
}

/** Variance of the 4-neighbour Laplacian over the interior: the usual focus measure (Pech-Pacheco et al.). */
function laplacianVariance(l: Float32Array, w: number, h: number): number {
  if (w < 3 || h < 3) return 0;
  let sum = 0;
  let sum2 = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const v =
        4 * (l[i] as number) -
        (l[i - 1] as number) -
        (l[i + 1] as number) -
        (l[i - w] as number) -
        (l[i + w] as number);
      sum += v;
      sum2 += v * v;
    }
  }
  const n = (w - 2) * (h - 2);
  const mean = sum / n;
  return Math.max(0, sum2 / n - mean * mean);
}
