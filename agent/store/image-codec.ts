import sharp, { type Sharp } from 'sharp';
import { decodeFrame, type Frame, openGuarded } from '../capture/index.js';
import type { TaskResult } from '../inference/index.js';

/** Stored frames are for people reviewing a part: quality 85 keeps scratches visible at a third of q100. */
const JPEG_QUALITY = 85;

export type ImageKind = 'frame' | 'annotated' | 'anomaly-map';

export const CONTENT_TYPES: Record<ImageKind, string> = {
  frame: 'image/jpeg',
  annotated: 'image/jpeg',
  'anomaly-map': 'image/png',
};

export const EXTENSIONS: Record<ImageKind, string> = { frame: 'jpg', annotated: 'jpg', 'anomaly-map': 'png' };

export interface AnomalyMap {
  width: number;
  height: number;
  data: Float32Array;
}

/** True when the bytes start with a JPEG SOI marker: such a frame is stored as it came, untouched. */
export function isJpeg(data: Buffer): boolean {
  return data.length > 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff;
}

/** A frame opened for sharp (raw pixels or an encoded file), under the same guard as preprocessing. */
export function openFrame(frame: Frame): Sharp {
  return openGuarded(frame);
}

const open = openFrame;

/**
 * The frame as a JPEG: a JPEG frame is returned as is (no work, no quality loss, the sha256 is the
 * camera's own bytes); raw pixels and other formats (PNG, BMP, TIFF from a folder camera) are encoded,
 * so `GET /api/decisions/:id/image` always answers image/jpeg.
 */
export async function frameJpeg(frame: Frame): Promise<Buffer> {
  if (frame.kind === 'encoded' && isJpeg(frame.data)) return frame.data;
  // the same guard as preprocessing (capture's decodeFrame): format allow-list, pixel limit
  return decodeFrame(frame, (image) =>
    image.rotate().removeAlpha().jpeg({ quality: JPEG_QUALITY }).toBuffer(),
  );
}

/** Detection boxes and labels drawn over the frame (source pixels, as the result gives them). */
export async function annotatedJpeg(
  frame: Frame,
  result: Extract<TaskResult, { task: 'detection' }>,
): Promise<Buffer> {
  const image = open(frame).rotate();
  const { width, height } = await sizeOf(frame, image);
  const svg = svgLayer(width, height, boxesSvg(result.detections, width, height));
  return image
    .removeAlpha()
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .jpeg({ quality: JPEG_QUALITY })
    .toBuffer();
}

/** What a judged frame is annotated with: the decision's verdict, reason and result. */
export interface JudgedView {
  verdict: string;
  reason: string;
  result: TaskResult | null;
}

/** The page shows frames at most this wide: a line-side panel or a phone gains nothing from more pixels. */
const JUDGED_MAX_WIDTH = 960;
const JUDGED_JPEG_QUALITY = 80;
/** How much of the frame shows through the anomaly heat map. */
const HEAT_MAP_OPACITY = 0.45;

/**
 * A judged frame as the technician page shows it, drawn by the same code as the stored annotated copies:
 * a banner with the verdict and, by task, the top class and its score (classification), the boxes and
 * labels (detection, as `annotatedJpeg`), or the heat map laid over the frame with the score and threshold
 * (anomaly; the map, in model-input pixels, is stretched over the whole frame). Scaled to at most 960 px wide.
 */
export async function judgedJpeg(frame: Frame, view: JudgedView, map?: AnomalyMap): Promise<Buffer> {
  const image = open(frame).rotate();
  const { width, height } = await sizeOf(frame, image);
  // scaled first and drawn at the output size, so the frame is decoded once and encoded once
  const scale = width > JUDGED_MAX_WIDTH ? JUDGED_MAX_WIDTH / width : 1;
  const outW = Math.max(1, Math.round(width * scale));
  const outH = Math.max(1, Math.round(height * scale));
  const layers: { input: Buffer; top: number; left: number }[] = [];
  if (map) {
    const heat = await sharp(await anomalyMapPng(map))
      .resize(outW, outH, { fit: 'fill' })
      .ensureAlpha(HEAT_MAP_OPACITY)
      .png({ compressionLevel: 0 })
      .toBuffer();
    layers.push({ input: heat, top: 0, left: 0 });
  }
  const result = view.result;
  // boxes in source pixels, scaled with the frame (their stroke and labels with them)
  const boxes =
    result?.task === 'detection'
      ? `<g transform="scale(${scale})">${boxesSvg(result.detections, width, height)}</g>`
      : '';
  layers.push({ input: Buffer.from(svgLayer(outW, outH, boxes + bannerSvg(view, outW))), top: 0, left: 0 });
  return image
    .resize(outW, outH, { fit: 'fill' })
    .removeAlpha()
    .composite(layers)
    .jpeg({ quality: JUDGED_JPEG_QUALITY })
    .toBuffer();
}

async function sizeOf(frame: Frame, image: Sharp): Promise<{ width: number; height: number }> {
  const meta = frame.kind === 'raw' ? { width: frame.width, height: frame.height } : await image.metadata();
  return { width: meta.width ?? 0, height: meta.height ?? 0 };
}

function svgLayer(width: number, height: number, content: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${content}</svg>`;
}

function boxesSvg(
  detections: Extract<TaskResult, { task: 'detection' }>['detections'],
  width: number,
  height: number,
): string {
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 300));
  const font = Math.max(12, stroke * 6);
  return detections
    .map((d) => {
      const [x1, y1, x2, y2] = d.box;
      const text = escapeXml(`${d.label} ${d.score.toFixed(2)}`);
      const ty = y1 > font + 4 ? y1 - 4 : y1 + font + 2;
      return `<rect x="${x1}" y="${y1}" width="${Math.max(0, x2 - x1)}" height="${Math.max(0, y2 - y1)}"
      fill="none" stroke="#ff2020" stroke-width="${stroke}"/>
      <text x="${x1 + 2}" y="${ty}" font-family="sans-serif" font-size="${font}" fill="#ff2020"
      stroke="#000" stroke-width="0.5">${text}</text>`;
    })
    .join('');
}

const VERDICT_COLOURS: Record<string, string> = {
  OK: '#1a7f37',
  NG: '#cf222e',
  UNCERTAIN: '#bf8700',
  ERROR: '#57606a',
};

/** The detail a banner gives after the verdict, by task. */
export function judgedDetail(view: JudgedView): string {
  const r = view.result;
  if (r?.task === 'classification') {
    const top = Object.entries(r.scores).sort((a, b) => b[1] - a[1])[0];
    return top ? `${top[0]} ${top[1].toFixed(2)}` : view.reason;
  }
  if (r?.task === 'detection') {
    const n = r.detections.length;
    return n === 0 ? 'no detections' : `${n} detection${n === 1 ? '' : 's'}`;
  }
  if (r?.task === 'anomaly') return `anomaly ${r.score.toFixed(2)} (threshold ${r.threshold.toFixed(2)})`;
  return view.reason;
}

/** Cut so a long reason (an error's message) never overflows the banner. */
const MAX_BANNER_CHARS = 80;

function bannerSvg(view: JudgedView, width: number): string {
  const font = Math.max(14, Math.round(width / 40));
  const height = Math.round(font * 1.6);
  const detail = judgedDetail(view);
  const text = `${view.verdict} · ${detail.length > MAX_BANNER_CHARS ? `${detail.slice(0, MAX_BANNER_CHARS)}…` : detail}`;
  const colour = VERDICT_COLOURS[view.verdict] ?? '#57606a';
  return `<rect x="0" y="0" width="${width}" height="${height}" fill="${colour}" fill-opacity="0.85"/>
    <text x="${Math.round(font / 2)}" y="${Math.round(font * 1.15)}" font-family="sans-serif" font-weight="bold"
    font-size="${font}" fill="#ffffff">${escapeXml(text)}</text>`;
}

/**
 * The anomaly map as a PNG heat map (blue = normal, red = anomalous), in model-input pixels. Values are
 * scaled between the map's own min and max, since raw maps have no fixed range across models; the
 * decision's score and threshold carry the absolute figures.
 */
export async function anomalyMapPng(map: AnomalyMap): Promise<Buffer> {
  const n = map.width * map.height;
  if (map.data.length < n || n === 0) throw new Error(`anomaly map ${map.width}x${map.height} has no data`);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = map.data[i] as number;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max > min ? max - min : 1;
  const rgb = Buffer.alloc(n * 3);
  for (let i = 0; i < n; i++) {
    const t = ((map.data[i] as number) - min) / span;
    // a simple blue -> green -> red ramp, readable without a legend
    rgb[i * 3] = Math.round(255 * Math.min(1, Math.max(0, 2 * t - 0.5)));
    rgb[i * 3 + 1] = Math.round(255 * Math.max(0, 1 - Math.abs(2 * t - 1)));
    rgb[i * 3 + 2] = Math.round(255 * Math.min(1, Math.max(0, 1.5 - 2 * t)));
  }
  return sharp(rgb, { raw: { width: map.width, height: map.height, channels: 3 } })
    .png()
    .toBuffer();
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
