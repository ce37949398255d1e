/**
 * What inference produces for one frame, in the shape decisions carry it (CONTRACT section 3): the decoders
 * make a TaskResult, the runner names the model that made it. decision, store and sync read these types
 * from here.
 */

export type TaskResult =
  | { task: 'classification'; scores: Record<string, number> }
  | {
      task: 'detection';
      detections: { label: string; score: number; box: [number, number, number, number] }[];
    }
  | { task: 'anomaly'; score: number; threshold: number; mapStored?: boolean };

export interface ModelRef {
  id: string;
  version: string;
  sha256: string;
  provider: string;
}
