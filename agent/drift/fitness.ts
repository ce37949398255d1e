import type { ImageStats } from '../inference/index.js';
import type { Baseline } from './baseline.js';

/**
 * Fitness to judge: is this frame's optics so far outside the baseline that the model's verdict means
 * nothing (a blurred, over- or under-exposed or covered camera)? Each check compares one image statistic
 * with the band the baseline's frames spanned (0.5 % to 99.5 %) and asks for a clear margin beyond it,
 * so a stable line is never judged unfit: only a frame unlike anything seen at commissioning is.
 * Exposure is checked before focus (a dark frame also has little detail).
 */

/**
 * Exposure is multiplicative: too dark below this fraction of the darkest baseline frames (and at least
 * MIN_GREY_MARGIN grey levels below them); too bright beyond BRIGHT_HEADROOM of the way from the brightest
 * baseline frames to white.
 */
export const DARK_RATIO = 0.6;
export const BRIGHT_HEADROOM = 0.5;
export const MIN_GREY_MARGIN = 10;
/** More than this share of pixels clipped beyond the baseline's highest share. */
export const CLIPPED_MARGIN = 0.2;
/** Contrast below this fraction of the band's low end: a covered lens or a dead light. */
export const CONTRAST_FLOOR = 0.35;
/**
 * Sharpness (variance of the Laplacian) below this fraction of the band's low end: defocused or smeared.
 * The Laplacian scales with the image's contrast, so the floor is scaled by (contrast / baseline mean)^2
 * where the frame has less contrast: a darker frame is not mistaken for a blurred one.
 */
export const SHARPNESS_FLOOR = 0.35;

const fmt = (v: number) => (Math.abs(v) >= 10 ? Math.round(v).toString() : v.toFixed(1));
const pct = (v: number) => `${Math.round(v * 100)}%`;

/** Why a frame is unfit to judge against `baseline`, or undefined when it is fit (or nothing can be said). */
export function unfitReason(stats: ImageStats, baseline: Baseline): string | undefined {
  const s = baseline.statistics;
  const b = s.brightness?.band;
  if (b) {
    const range = `baseline ${fmt(b[0])}-${fmt(b[1])}`;
    const dark = Math.min(b[0] * DARK_RATIO, b[0] - MIN_GREY_MARGIN);
    const bright = Math.max(b[1] + (255 - b[1]) * BRIGHT_HEADROOM, b[1] + MIN_GREY_MARGIN);
    if (stats.brightness < dark) return `image too dark: brightness ${fmt(stats.brightness)} vs ${range}`;
    if (stats.brightness > bright) return `image too bright: brightness ${fmt(stats.brightness)} vs ${range}`;
  }
  const white = s.clippedBright?.band;
  if (white && stats.clippedBright > white[1] + CLIPPED_MARGIN) {
    return `image over-exposed: ${pct(stats.clippedBright)} of pixels blown white vs baseline ${pct(white[0])}-${pct(white[1])}`;
  }
  const black = s.clippedDark?.band;
  if (black && stats.clippedDark > black[1] + CLIPPED_MARGIN) {
    return `image under-exposed or covered: ${pct(stats.clippedDark)} of pixels black vs baseline ${pct(black[0])}-${pct(black[1])}`;
  }
  const c = s.contrast?.band;
  if (c && stats.contrast < c[0] * CONTRAST_FLOOR) {
    return `image without contrast (lens covered or light off?): contrast ${fmt(stats.contrast)} vs baseline ${fmt(c[0])}-${fmt(c[1])}`;
  }
  const sharp = s.sharpness?.band;
  const meanContrast = s.contrast?.mean ?? 0;
  const exposure = meanContrast > 0 ? Math.min(1, (stats.contrast / meanContrast) ** 2) : 1;
  if (sharp && stats.sharpness < sharp[0] * SHARPNESS_FLOOR * exposure) {
    return `image blurred: sharpness ${fmt(stats.sharpness)} vs baseline ${fmt(sharp[0])}-${fmt(sharp[1])}`;
  }
  return undefined;
}
