import { AgentError, ErrorCodes } from '../errors.js';
import { type DetectionFormat, detectionLayout } from './detection-layout.js';
import type { ModelManifest } from './manifest-schema.js';
import type { Geometry } from './preprocess.js';
import type { TaskResult } from './result.js';

export type Detection = Extract<TaskResult, { task: 'detection' }>['detections'][number];

/** Ultralytics' cap on boxes entering NMS: beyond it only the highest-scoring are kept. */
const MAX_NMS_CANDIDATES = 30_000;

export interface Candidates {
  /** x1,y1,x2,y2 per candidate, model-input pixels */
  boxes: Float32Array;
  scores: Float32Array;
  classes: Int32Array;
  count: number;
}

/**
 * Reads candidates above `confidence` out of a YOLO output (one image). Typed arrays throughout: a YOLOv8
 * output of 84 x 8400 is scanned once per class row, column by column in memory order.
 */
export function collectCandidates(
  data: Float32Array,
  dims: readonly number[],
  format: DetectionFormat,
  nc: number,
  confidence: number,
): Candidates {
  const n = format === 'yolov8' ? (dims[2] as number) : (dims[1] as number);
  const best = new Float32Array(n);
  const cls = new Int32Array(n);
  if (format === 'yolov8') {
    // [4+nc, N]: row-major, so walk each class row over all anchors (sequential reads)
    best.fill(-Infinity);
    for (let c = 0; c < nc; c++) {
      const row = (4 + c) * n;
      for (let i = 0; i < n; i++) {
        const s = data[row + i] as number;
        if (s > (best[i] as number)) {
          best[i] = s;
          cls[i] = c;
        }
      }
    }
  } else if (format === 'yolov5') {
    const stride = 5 + nc;
    for (let i = 0; i < n; i++) {
      const base = i * stride;
      const obj = data[base + 4] as number;
      // conf = obj * cls <= obj: a low objectness cannot pass (Ultralytics filters on it first too)
      if (!(obj > confidence)) {
        best[i] = -Infinity;
        continue;
      }
      let b = -Infinity;
      let bc = 0;
      for (let c = 0; c < nc; c++) {
        const s = (data[base + 5 + c] as number) * obj;
        if (s > b) {
          b = s;
          bc = c;
        }
      }
      best[i] = b;
      cls[i] = bc;
    }
  } else {
    for (let i = 0; i < n; i++) {
      best[i] = data[i * 6 + 4] as number;
      cls[i] = data[i * 6 + 5] as number;
    }
  }
  let count = 0;
  for (let i = 0; i < n; i++) if ((best[i] as number) > confidence) count++;
  const out: Candidates = {
    boxes: new Float32Array(count * 4),
    scores: new Float32Array(count),
    classes: new Int32Array(count),
    count,
  };
  let k = 0;
  for (let i = 0; i < n; i++) {
    const score = best[i] as number;
    if (!(score > confidence)) continue;
    let x1: number;
    let y1: number;
    let x2: number;
    let y2: number;
    if (format === 'end2end') {
      x1 = data[i * 6] as number;
      y1 = data[i * 6 + 1] as number;
      x2 = data[i * 6 + 2] as number;
      y2 = data[i * 6 + 3] as number;
    } else {
      const at = (j: number) => (format === 'yolov8' ? data[j * n + i] : data[i * (5 + nc) + j]) as number;
      const cx = at(0);
      const cy = at(1);
      const w = at(2);
      const h = at(3);
      x1 = cx - w / 2;
      y1 = cy - h / 2;
      x2 = cx + w / 2;
      y2 = cy + h / 2;
    }
    out.boxes.set([x1, y1, x2, y2], k * 4);
    out.scores[k] = score;
    out.classes[k] = cls[i] as number;
    k++;
  }
  return out;
}

/**
 * Greedy non-maximum suppression, highest score first; boxes of different classes never suppress each
 * other unless `agnostic`. Returns kept candidate indices, at most `max`.
 */
export function nms(c: Candidates, iou: number, agnostic: boolean, max: number): number[] {
  let order = Array.from({ length: c.count }, (_, i) => i).sort(
    (a, b) => (c.scores[b] as number) - (c.scores[a] as number),
  );
  if (order.length > MAX_NMS_CANDIDATES) order = order.slice(0, MAX_NMS_CANDIDATES);
  const removed = new Uint8Array(c.count);
  const keep: number[] = [];
  const b = c.boxes;
  for (let oi = 0; oi < order.length && keep.length < max; oi++) {
    const i = order[oi] as number;
    if (removed[i]) continue;
    keep.push(i);
    const ax1 = b[i * 4] as number;
    const ay1 = b[i * 4 + 1] as number;
    const ax2 = b[i * 4 + 2] as number;
    const ay2 = b[i * 4 + 3] as number;
    const areaA = Math.max(0, ax2 - ax1) * Math.max(0, ay2 - ay1);
    for (let oj = oi + 1; oj < order.length; oj++) {
      const j = order[oj] as number;
      if (removed[j] || (!agnostic && c.classes[j] !== c.classes[i])) continue;
      const w = Math.min(ax2, b[j * 4 + 2] as number) - Math.max(ax1, b[j * 4] as number);
      const h = Math.min(ay2, b[j * 4 + 3] as number) - Math.max(ay1, b[j * 4 + 1] as number);
      if (w <= 0 || h <= 0) continue;
      const inter = w * h;
      const areaB =
        ((b[j * 4 + 2] as number) - (b[j * 4] as number)) *
        ((b[j * 4 + 3] as number) - (b[j * 4 + 1] as number));
      if (inter / (areaA + areaB - inter) > iou) removed[j] = 1;
    }
  }
  return keep;
}

/** Model-input pixels -> source pixels (undo the letterbox/crop/stretch), clipped to the image. */
export function toSource(box: ArrayLike<number>, g: Geometry): [number, number, number, number] {
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const r = (v: number) => Math.round(v * 10) / 10;
  return [
    r(clip(((box[0] as number) - g.padX) / g.scaleX, g.sourceWidth)),
    r(clip(((box[1] as number) - g.padY) / g.scaleY, g.sourceHeight)),
    r(clip(((box[2] as number) - g.padX) / g.scaleX, g.sourceWidth)),
    r(clip(((box[3] as number) - g.padY) / g.scaleY, g.sourceHeight)),
  ];
}

/** A detection output -> labelled boxes in source pixels, best first. */
export function decodeDetection(
  data: Float32Array,
  dims: readonly number[],
  manifest: ModelManifest,
  formatHint: DetectionFormat | undefined,
  geometry: Geometry,
): Detection[] {
  const nc = manifest.labels.length;
  const layout = detectionLayout(dims, nc, formatHint);
  if (layout.problem || !layout.format) {
    throw new AgentError(
      ErrorCodes.INFERENCE_FAILED,
      `model ${manifest.id}: detection output ${layout.problem ?? `[${dims.join(', ')}] has an unknown layout`}`,
    );
  }
  const opts = manifest.detection;
  const c = collectCandidates(data, dims, layout.format, nc, opts.confidence);
  for (let i = 0; i < c.count; i++) {
    const cls = c.classes[i] as number;
    if (cls < 0 || cls >= nc || !Number.isInteger(cls)) {
      throw new AgentError(
        ErrorCodes.INFERENCE_FAILED,
        `model ${manifest.id}: detection class ${cls} outside its ${nc} labels`,
      );
    }
  }
  // end-to-end models did their own NMS: threshold only
  const keep =
    layout.format === 'end2end'
      ? Array.from({ length: c.count }, (_, i) => i)
          .sort((a, b) => (c.scores[b] as number) - (c.scores[a] as number))
          .slice(0, opts.maxDetections)
      : nms(c, opts.iou, opts.agnostic, opts.maxDetections);
  return keep.map((i) => ({
    label: manifest.labels[c.classes[i] as number] as string,
    score: Math.round((c.scores[i] as number) * 1e4) / 1e4,
    box: toSource(c.boxes.subarray(i * 4, i * 4 + 4), geometry),
  }));
}
