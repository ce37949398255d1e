import { decodeFrame, type Frame, MAX_ENCODED_FRAME_PIXELS } from '../capture/index.js';
import { AgentError, ErrorCodes } from '../errors.js';
import { toFloat16Array } from './float16.js';
import { shownSize } from './frame-size.js';
import type { Region } from './image-stats.js';
import type { InputSpec } from './manifest-schema.js';

/** Frames above this many pixels are refused before decoding (image bombs); 8K is 33 Mpx. */
export const MAX_INPUT_PIXELS = MAX_ENCODED_FRAME_PIXELS;

export interface Tensor {
  data: Float32Array | Uint8Array | Uint16Array;
  dims: number[];
  type: 'float32' | 'uint8' | 'float16';
}

/** How model-input pixels map to source pixels: model = source * scale + pad (per axis). */
export interface Geometry {
  sourceWidth: number;
  sourceHeight: number;
  scaleX: number;
  scaleY: number;
  padX: number;
  padY: number;
}

export interface Preprocessed {
  tensor: Tensor;
  sourceWidth: number;
  sourceHeight: number;
  geometry: Geometry;
  /** Where the frame lies in the model input (all of it, but for a letterbox's padding). */
  region: Region;
}

/** Python's round(): halves go to the even neighbour (Ultralytics' sizes and pads are computed with it). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface ResizePlan {
  /** size the source is resized to (fit: fill, bilinear) */
  resizeWidth: number;
  resizeHeight: number;
  /** then padded (letterbox) ... */
  pad?: { top: number; bottom: number; left: number; right: number };
  /** ... or cropped (shortside-centercrop) */
  crop?: { left: number; top: number };
  geometry: Geometry;
}

/**
 * The geometry of each resize mode, computed as the reference implementations do:
 * - letterbox: Ultralytics' LetterBox (r = min(H/h, W/w); unpadded size round(w*r) x round(h*r); padding
 *   split round(d/2 -/+ 0.1), so an odd pixel goes to the bottom/right);
 * - shortside-centercrop: torchvision Resize(short side) + CenterCrop (long side truncated, crop offset
 *   round((n - S)/2)), as Ultralytics' classify transforms; with `cropPct` the short side goes to
 *   floor(S / cropPct) first (torchvision's and timm's eval transforms);
 * - stretch: both axes scaled independently.
 */
export function planResize(
  w: number,
  h: number,
  input: Pick<InputSpec, 'width' | 'height' | 'resize'> & { cropPct?: number | undefined },
): ResizePlan {
  const W = input.width;
  const H = input.height;
  if (input.resize === 'letterbox') {
    const r = Math.min(H / h, W / w);
    const nw = roundHalfEven(w * r);
    const nh = roundHalfEven(h * r);
    const dw = (W - nw) / 2;
    const dh = (H - nh) / 2;
    const pad = {
      top: roundHalfEven(dh - 0.1),
      bottom: roundHalfEven(dh + 0.1),
      left: roundHalfEven(dw - 0.1),
      right: roundHalfEven(dw + 0.1),
    };
    return {
      resizeWidth: nw,
      resizeHeight: nh,
      pad,
      geometry: { sourceWidth: w, sourceHeight: h, scaleX: r, scaleY: r, padX: pad.left, padY: pad.top },
    };
  }
  if (input.resize === 'shortside-centercrop') {
    // cropPct < 1 (torchvision's and timm's eval transforms: Resize(floor(S / crop_pct)) then CenterCrop(S),
    // 256 -> 224 at 0.875): the short side is resized past the target first
    const pct = input.cropPct ?? 1;
    const RW = pct === 1 ? W : Math.floor(W / pct);
    const RH = pct === 1 ? H : Math.floor(H / pct);
    const widthLimits = w / h < RW / RH;
    const nw = widthLimits ? RW : Math.max(RW, Math.floor((w * RH) / h));
    const nh = widthLimits ? Math.max(RH, Math.floor((h * RW) / w)) : RH;
    const crop = { left: roundHalfEven((nw - W) / 2), top: roundHalfEven((nh - H) / 2) };
    return {
      resizeWidth: nw,
      resizeHeight: nh,
      crop,
      geometry: {
        sourceWidth: w,
        sourceHeight: h,
        scaleX: nw / w,
        scaleY: nh / h,
        padX: -crop.left,
        padY: -crop.top,
      },
    };
  }
  return {
    resizeWidth: W,
    resizeHeight: H,
    geometry: { sourceWidth: w, sourceHeight: h, scaleX: W / w, scaleY: H / h, padX: 0, padY: 0 },
  };
}

/**
 * A frame must be at least this share of the model's input on each side: a smaller one would be upscaled
 * more than 4x, so the model judges pixels the camera never saw (a 1x1 image was judged "NG 0.94").
 */
export const MIN_SOURCE_FRACTION = 0.25;

/** The smallest frame a model with this input judges (MIN_SOURCE_FRACTION of each side, at least 1). */
export function minSourceSize(input: Pick<InputSpec, 'width' | 'height'>): { width: number; height: number } {
  return {
    width: Math.max(1, Math.ceil(input.width * MIN_SOURCE_FRACTION)),
    height: Math.max(1, Math.ceil(input.height * MIN_SOURCE_FRACTION)),
  };
}

/**
 * Decodes a frame and turns it into the model's input tensor, as the manifest says. The frame goes through
 * capture's `decodeFrame` (format allow-list, pixel limit, truncated frames refused); one smaller than
 * `minSourceSize` is refused before its pixels are decoded. Every refusal is EVA_ERR_FRAME_DECODE.
 * Decoding and resizing are one sharp call on libuv's pool when the size is known from the header
 * (raw frames, JPEG: `shownSize`), so a session worker's decode of the next frame runs while its session
 * infers the current one; other formats ask sharp for their size first.
 */
export async function preprocess(frame: Frame, input: InputSpec): Promise<Preprocessed> {
  const known = shownSize(frame);
  const { pixels, plan } = await decodeFrame(frame, async (image) => {
    let size = known;
    if (!size) {
      // the size as shown, after EXIF orientation (what autoOrient below produces)
      const meta = await image.metadata();
      size = {
        width: meta.autoOrient?.width ?? meta.width ?? 0,
        height: meta.autoOrient?.height ?? meta.height ?? 0,
      };
    }
    const { width: w, height: h } = size;
    const min = minSourceSize(input);
    if (w < min.width || h < min.height) {
      throw new AgentError(
        ErrorCodes.FRAME_DECODE,
        `frame of ${w}x${h} is too small for model input ${input.width}x${input.height} (at least ${min.width}x${min.height})`,
      );
    }
    const plan = planResize(w, h, input);
    let pipeline = image
      .autoOrient() // honour EXIF orientation, as a person viewing the file would
      .removeAlpha()
      .toColourspace('srgb')
      // fastShrinkOnLoad false (the default) still lets libjpeg scale the DCT while decoding, leaving at
      // least 2x for the resize kernel (1080p -> 224: decoded at 1/2); `fastDecode` lets it go further
      // where sharp allows (docs/models.md: speed and how far the outputs move)
      .resize(plan.resizeWidth, plan.resizeHeight, {
        fit: 'fill',
        kernel: 'linear',
        fastShrinkOnLoad: input.fastDecode === true,
      });
    if (plan.pad) {
      const v = input.padValue;
      pipeline = pipeline.extend({ ...plan.pad, background: { r: v, g: v, b: v } });
    } else if (plan.crop) {
      pipeline = pipeline.extract({ ...plan.crop, width: input.width, height: input.height });
    }
    return { pixels: await pipeline.raw().toBuffer(), plan };
  });
  if (pixels.length !== input.width * input.height * 3) {
    throw new AgentError(ErrorCodes.FRAME_DECODE, `frame decoded to ${pixels.length} bytes, expected RGB`);
  }
  const { sourceWidth, sourceHeight } = plan.geometry;
  return {
    tensor: toTensor(pixels, input),
    sourceWidth,
    sourceHeight,
    geometry: plan.geometry,
    region: contentRegion(plan, input),
  };
}

/** The model-input pixels that show the frame: a letterbox's bands are padding, not scene. */
export function contentRegion(plan: ResizePlan, input: Pick<InputSpec, 'width' | 'height'>): Region {
  if (plan.pad) {
    return { x: plan.pad.left, y: plan.pad.top, width: plan.resizeWidth, height: plan.resizeHeight };
  }
  return { x: 0, y: 0, width: input.width, height: input.height };
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
