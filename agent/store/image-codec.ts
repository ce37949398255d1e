import sharp from 'sharp';
import { decodeFrame, type Frame } from '../capture/index.js';
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
  return decodeFrame(frame, async (opened) => {
    const image = opened.rotate();
    const meta = frame.kind === 'raw' ? { width: frame.width, height: frame.height } : await image.metadata();
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    const stroke = Math.max(2, Math.round(Math.min(width, height) / 300));
    const font = Math.max(12, stroke * 6);
    const shapes = result.detections.map((d) => {
      const [x1, y1, x2, y2] = d.box;
      const text = escapeXml(`${d.label} ${d.score.toFixed(2)}`);
      const ty = y1 > font + 4 ? y1 - 4 : y1 + font + 2;
      return `<rect x="${x1}" y="${y1}" width="${Math.max(0, x2 - x1)}" height="${Math.max(0, y2 - y1)}"
      fill="none" stroke="#ff2020" stroke-width="${stroke}"/>
      <text x="${x1 + 2}" y="${ty}" font-family="sans-serif" font-size="${font}" fill="#ff2020"
      stroke="#000" stroke-width="0.5">${text}</text>`;
    });
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join('')}</svg>`;
    return image
      .removeAlpha()
      .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
      .jpeg({ quality: JPEG_QUALITY })
      .toBuffer();
  });
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
