import type { Dim } from './onnx-info.js';

export type DetectionFormat = 'yolov5' | 'yolov8' | 'end2end';

const EXPECTED = 'yolov5 [1,N,5+nc], yolov8 [1,4+nc,N] or end2end [1,K,6]';

/**
 * Which YOLO layout an output is, from its shape and the number of labels (nc), when the manifest gives no
 * `format`. The rule, in order (a = shape[1], b = shape[2]):
 *   1. b = 6 and nc != 1            -> end2end   (x1,y1,x2,y2,conf,class)
 *   2. a = 4 + nc                   -> yolov8    (cx,cy,w,h, nc scores; one column per anchor)
 *   3. b = 5 + nc                   -> yolov5    (cx,cy,w,h, objectness, nc scores; one row per anchor)
 * A one-class end-to-end model ([1,K,6], like yolov5 with nc=1) needs `format: end2end` or the Ultralytics
 * `end2end` metadata. Free (symbolic) dimensions are settled on the first real output.
 */
export function detectionLayout(
  shape: readonly Dim[],
  nc: number,
  format?: DetectionFormat,
): { format?: DetectionFormat; problem?: string } {
  const show = `[${shape.join(', ')}]`;
  if (shape.length !== 3) {
    return { problem: `shape ${show} is not a detection output (${EXPECTED}, nc=${nc} labels)` };
  }
  const a = shape[1];
  const b = shape[2];
  const fits = (f: DetectionFormat): boolean | undefined => {
    const dim = f === 'yolov8' ? a : b;
    const want = f === 'yolov8' ? 4 + nc : f === 'yolov5' ? 5 + nc : 6;
    return typeof dim === 'number' ? dim === want : undefined;
  };
  if (format) {
    return fits(format) === false
      ? { format, problem: `shape ${show} does not fit ${format} with ${nc} labels (${EXPECTED})` }
      : { format };
  }
  if (typeof b === 'number' && b === 6 && nc !== 1) return { format: 'end2end' };
  if (fits('yolov8')) return { format: 'yolov8' };
  if (fits('yolov5')) return { format: 'yolov5' };
  if (typeof a !== 'number' || typeof b !== 'number') return {};
  return { problem: `shape ${show} fits none of ${EXPECTED} with nc=${nc} labels` };
}
