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

// scratch buffers per thread (the stats of one frame at a time are computed here): luma and the channels
let grey = new Float32Array(0);
let chans = [new Float32Array(0), new Float32Array(0), new Float32Array(0)] as const;

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
  const stride = Math.max(1, Math.ceil(Math.max(region.width, region.height) / THUMB_MAX_SIDE));
  const tw = Math.max(1, Math.floor(region.width / stride));
  const th = Math.max(1, Math.floor(region.height / stride));
  const n = tw * th;
  if (grey.length < n) {
    grey = new Float32Array(n);
    chans = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  }
  // tensor channel c holds source channel order[c]: R, G and B are read from where they are
  const order = input.colorOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const sums =
    input.layout === 'NCHW' && data instanceof Float32Array
      ? sumsNchwFloat32(data, input, region, stride, tw, th, order)
      : sumsOfChannels(data, input, region, stride, tw, th, order);
  const [sumR, sumG, sumB, sumL, sumL2, sumS, dark, bright] = sums as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
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

/**
 * The common case (float32 NCHW: what most exported models take), read from the three planes in place, in
 * one pass: x = v * mul + add in the tensor (preprocess.ts toTensor), so v = x * std / scale + mean / scale.
 * Returns [sumR, sumG, sumB, sumL, sumL2, sumS, dark, bright] and fills `grey`.
 */
function sumsNchwFloat32(
  data: Float32Array,
  input: StatsInput,
  region: Region,
  stride: number,
  tw: number,
  th: number,
  order: readonly number[],
): number[] {
  const W = input.width;
  const plane = W * input.height;
  const cr = order.indexOf(0) as 0 | 1 | 2;
  const cg = order.indexOf(1) as 0 | 1 | 2;
  const cb = order.indexOf(2) as 0 | 1 | 2;
  const offR = cr * plane;
  const offG = cg * plane;
  const offB = cb * plane;
  const kr = (input.std[cr] as number) / input.scale;
  const kg = (input.std[cg] as number) / input.scale;
  const kb = (input.std[cb] as number) / input.scale;
  const ar = (input.mean[cr] as number) / input.scale;
  const ag = (input.mean[cg] as number) / input.scale;
  const ab = (input.mean[cb] as number) / input.scale;
  const out = grey;
  let sumR = 0;
  let sumG = 0;
  let sumB = 0;
  let sumL = 0;
  let sumL2 = 0;
  let sumS = 0;
  let dark = 0;
  let bright = 0;
  let o = 0;
  for (let ty = 0; ty < th; ty++) {
    let p = (region.y + ty * stride) * W + region.x;
    for (let tx = 0; tx < tw; tx++, p += stride) {
      const r = (data[offR + p] as number) * kr + ar;
      const g = (data[offG + p] as number) * kg + ag;
      const b = (data[offB + p] as number) * kb + ab;
      const l = 0.299 * r + 0.587 * g + 0.114 * b;
      out[o++] = l;
      sumR += r;
      sumG += g;
      sumB += b;
      sumL += l;
      sumL2 += l * l;
      // saturation (a division) on every other pixel of every other row: a mean needs no more
      if (((tx | ty) & 1) === 0) {
        const max = r > g ? (r > b ? r : b) : g > b ? g : b;
        const min = r < g ? (r < b ? r : b) : g < b ? g : b;
        if (max > 0) sumS += (max - min) / max;
      }
      if (l <= CLIP_DARK) dark++;
      else if (l >= CLIP_BRIGHT) bright++;
    }
  }
  // sumS as if every pixel had been counted
  const sampled = Math.ceil(tw / 2) * Math.ceil(th / 2);
  return [sumR, sumG, sumB, sumL, sumL2, (sumS * tw * th) / sampled, dark, bright];
}

/** Every other layout and dtype: each channel into a scratch buffer (in 0-255) first, then one pass. */
function sumsOfChannels(
  data: Float32Array | Uint8Array | Uint16Array,
  input: StatsInput,
  region: Region,
  stride: number,
  tw: number,
  th: number,
  order: readonly number[],
): number[] {
  for (let c = 0; c < 3; c++) {
    extractChannel(data, input, region, stride, tw, th, c, chans[order[c] as number] as Float32Array);
  }
  const [R, G, B] = chans;
  const out = grey;
  let sumR = 0;
  let sumG = 0;
  let sumB = 0;
  let sumL = 0;
  let sumL2 = 0;
  let sumS = 0;
  let dark = 0;
  let bright = 0;
  for (let i = 0; i < tw * th; i++) {
    const r = R[i] as number;
    const g = G[i] as number;
    const b = B[i] as number;
    const l = 0.299 * r + 0.587 * g + 0.114 * b;
    out[i] = l;
    sumR += r;
    sumG += g;
    sumB += b;
    sumL += l;
    sumL2 += l * l;
    const max = r > g ? (r > b ? r : b) : g > b ? g : b;
    const min = r < g ? (r < b ? r : b) : g < b ? g : b;
    if (max > 0) sumS += (max - min) / max;
    if (l <= CLIP_DARK) dark++;
    else if (l >= CLIP_BRIGHT) bright++;
  }
  return [sumR, sumG, sumB, sumL, sumL2, sumS, dark, bright];
}

/**
 * Tensor channel `c` of the thumbnail into `out`, back in 0-255: x = v * mul + add in the tensor
 * (preprocess.ts toTensor), so v = (x - add) / mul. One tight loop per channel, no per-pixel branching.
 */
function extractChannel(
  data: Float32Array | Uint8Array | Uint16Array,
  input: StatsInput,
  region: Region,
  stride: number,
  tw: number,
  th: number,
  c: number,
  out: Float32Array,
): void {
  const W = input.width;
  const nchw = input.layout === 'NCHW';
  const base = nchw ? c * W * input.height : c;
  const step = nchw ? stride : stride * 3;
  const rowStep = nchw ? W : W * 3;
  const std = input.std[c as 0 | 1 | 2] as number;
  const mean = input.mean[c as 0 | 1 | 2] as number;
  // uint8 tensors are not normalised (toTensor copies the bytes)
  const scale = input.dtype === 'uint8' ? 1 : std / input.scale;
  const offset = input.dtype === 'uint8' ? 0 : mean / input.scale;
  const half = input.dtype === 'float16';
  let o = 0;
  for (let ty = 0; ty < th; ty++) {
    let i = base + (region.y + ty * stride) * rowStep + (nchw ? region.x : region.x * 3);
    if (half) {
      for (let tx = 0; tx < tw; tx++, i += step)
        out[o++] = float16BitsToFloat32(data[i] as number) * scale + offset;
    } else {
      for (let tx = 0; tx < tw; tx++, i += step) out[o++] = (data[i] as number) * scale + offset;
    }
  }
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
