import type { Region } from './image-stats.js';
import type { InputSpec } from './manifest-schema.js';

/** How model-input pixels map to source pixels: model = source * scale + pad (per axis). */
export interface Geometry {
  sourceWidth: number;
  sourceHeight: number;
  scaleX: number;
  scaleY: number;
  padX: number;
  padY: number;
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

/** The model-input pixels that show the frame: a letterbox's bands are padding, not scene. */
export function contentRegion(plan: ResizePlan, input: Pick<InputSpec, 'width' | 'height'>): Region {
  if (plan.pad) {
    return { x: plan.pad.left, y: plan.pad.top, width: plan.resizeWidth, height: plan.resizeHeight };
  }
  return { x: 0, y: 0, width: input.width, height: input.height };
}
