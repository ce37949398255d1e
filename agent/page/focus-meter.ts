import type { Frame } from '../capture/index.js';
import { openFrame } from '../store/index.js';

/** What a technician aiming and focusing a camera reads: sharpness and exposure of the current frame. */
export interface FocusMeter {
  /**
   * Variance of the Laplacian over a centre crop at full resolution: higher is sharper. It has no fixed
   * scale (it depends on the scene), so turn the focus ring for the highest value on a fixed target.
   */
  sharpness: number;
  exposure: {
    /** Mean brightness, 0 (black) to 255 (white), over the whole frame. */
    mean: number;
    /** Share of pixels crushed to black (<= DARK) and blown to white (>= BRIGHT). */
    dark: number;
    bright: number;
  };
  width: number;
  height: number;
}

/** The focus measure looks at the centre of the frame at full resolution, where a part sits when aimed. */
const CROP = 512;
/** Exposure is read from every STEP-th pixel in both directions: a 1080p frame gives ~130k samples. */
const STEP = 4;
const DARK = 5;
const BRIGHT = 250;

/** Decodes the frame to grey once (sharp, libuv pool) and reads both figures from it. */
export async function measureFocus(frame: Frame): Promise<FocusMeter> {
  const { data, info } = await openFrame(frame)
    .rotate()
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return focusOf(data, info.width, info.height, info.channels);
}

/** The figures from grey pixels (`channels` interleaved; the first is read). Exported for tests. */
export function focusOf(grey: Uint8Array, width: number, height: number, channels = 1): FocusMeter {
  const at = (x: number, y: number) => grey[(y * width + x) * channels] as number;
  // exposure over the whole frame, sampled
  let total = 0;
  let n = 0;
  let dark = 0;
  let bright = 0;
  for (let y = 0; y < height; y += STEP) {
    for (let x = 0; x < width; x += STEP) {
      const v = at(x, y);
      total += v;
      n++;
      if (v <= DARK) dark++;
      else if (v >= BRIGHT) bright++;
    }
  }
  // sharpness: variance of the 4-neighbour Laplacian in the centre crop
  const cw = Math.min(CROP, width);
  const ch = Math.min(CROP, height);
  const x0 = Math.floor((width - cw) / 2);
  const y0 = Math.floor((height - ch) / 2);
  let sum = 0;
  let sumSq = 0;
  let m = 0;
  for (let y = y0 + 1; y < y0 + ch - 1; y++) {
    for (let x = x0 + 1; x < x0 + cw - 1; x++) {
      const lap = 4 * at(x, y) - at(x - 1, y) - at(x + 1, y) - at(x, y - 1) - at(x, y + 1);
      sum += lap;
      sumSq += lap * lap;
      m++;
    }
  }
  const mean = m === 0 ? 0 : sum / m;
  const variance = m === 0 ? 0 : sumSq / m - mean * mean;
  const r1 = (v: number) => Math.round(v * 10) / 10;
  const r4 = (v: number) => Math.round(v * 10_000) / 10_000;
  return {
    sharpness: r1(variance),
    exposure: {
      mean: n === 0 ? 0 : r1(total / n),
      dark: n === 0 ? 0 : r4(dark / n),
      bright: n === 0 ? 0 : r4(bright / n),
    },
    width,
    height,
  };
}
