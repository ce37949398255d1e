import { z } from 'zod';

/**
 * The manifest beside each model says how to feed it and how to read it (docs/models.md). What the file
 * leaves out is filled from the model itself (graph inputs/outputs, Ultralytics metadata_props) by
 * `resolveManifest`, and what it states is checked against the model there.
 */
const triple = z.tuple([z.number(), z.number(), z.number()]);

const inputSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    dtype: z.enum(['float32', 'uint8', 'float16']).optional(),
    layout: z.enum(['NCHW', 'NHWC']).optional(),
    width: z.number().int().positive().optional(),
    height: z.number().int().positive().optional(),
    colorOrder: z.enum(['RGB', 'BGR']).default('RGB'),
    resize: z.enum(['stretch', 'letterbox', 'shortside-centercrop']).optional(),
    // shortside-centercrop: the crop's share of the resized short side (torchvision/timm eval: 0.875,
    // Resize(256) + CenterCrop(224)); 1 = resize to the crop size (Ultralytics classify)
    cropPct: z.number().gt(0).max(1).default(1),
    // letterbox fill, each channel (Ultralytics: 114)
    padValue: z.number().int().min(0).max(255).default(114),
    // x' = (x * scale - mean[c]) / std[c]
    scale: z
      .number()
      .positive()
      .default(1 / 255),
    mean: triple.default([0, 0, 0]),
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).default([1, 1, 1]),
    // the graph normalises itself (anomalib v2): feed x * scale only
    normalizedInGraph: z.boolean().default(false),
    // JPEG shrink-on-load as far as sharp allows (libjpeg scales the DCT by 1/2, 1/4 or 1/8 while decoding):
    // faster, but the model sees slightly different pixels than with the default decode (docs/models.md)
    fastDecode: z.boolean().default(false),
  })
  .refine((i) => !i.normalizedInGraph || (i.mean.every((v) => v === 0) && i.std.every((v) => v === 1)), {
    message: 'normalizedInGraph: true feeds x*scale only; mean/std must be left at their defaults',
  });

export const OUTPUT_ROLES = [
  'scores',
  'detections',
  'pred_score',
  'pred_label',
  'anomaly_map',
  'pred_mask',
] as const;

const outputSchema = z.strictObject({
  name: z.string().min(1),
  role: z.enum(OUTPUT_ROLES),
  // classification scores
  activation: z.enum(['none', 'softmax', 'sigmoid']).default('none'),
  // detections: yolov5 [1,N,5+nc] | yolov8 [1,4+nc,N] | end2end [1,K,6]; inferred from the shape when omitted
  format: z.enum(['yolov5', 'yolov8', 'end2end']).optional(),
});

/**
 * Frames waiting at the same moment (several cameras on one model) go through one session.run, when the
 * model's batch dimension is free: at most `max` frames, a frame waiting at most `waitMs` for company.
 * max 1 (the default) runs every frame alone; waitMs 0 never holds a frame back (docs/models.md).
 */
const batchSchema = z.strictObject({
  max: z.number().int().min(1).max(64).default(1),
  waitMs: z.number().min(0).max(1_000).default(0),
});

const box = z.tuple([z.number(), z.number(), z.number(), z.number()]);

const goldenSchema = z.strictObject({
  image: z.string().min(1),
  expect: z.strictObject({
    // classification: the top label, with at least minScore
    label: z.string().min(1).optional(),
    minScore: z.number().min(0).max(1).optional(),
    // detection: exactly these (source pixels), matched by label and IoU >= minIou
    detections: z.array(z.strictObject({ label: z.string().min(1), box })).optional(),
    minIou: z.number().min(0).max(1).default(0.5),
    // anomaly: the verdict, and optionally the score within tolerance
    anomalous: z.boolean().optional(),
    score: z.number().optional(),
    tolerance: z.number().min(0).default(0.1),
  }),
});

const detectionSchema = z.strictObject({
  confidence: z.number().min(0).max(1).default(0.25),
  iou: z.number().min(0).max(1).default(0.45),
  agnostic: z.boolean().default(false),
  maxDetections: z.number().int().positive().default(300),
});

const anomalySchema = z.strictObject({
  // on the normalised score (anomalib: 0.5)
  threshold: z.number().min(0).max(1).default(0.5),
  // anomalib v1: its metadata.json (image_threshold, min, max), relative to the manifest
  metadata: z.string().min(1).optional(),
  // or the same numbers inline
  imageThreshold: z.number().optional(),
  min: z.number().optional(),
  max: z.number().optional(),
});

export const TASKS = ['classification', 'detection', 'anomaly'] as const;
export type Task = (typeof TASKS)[number];

export const manifestSchema = z.looseObject({
  schema: z.literal(1).default(1),
  // default: the model's folder name (models/washer/model.onnx -> washer), or the file name without .onnx
  id: z.string().min(1).optional(),
  // default: the first 12 hex digits of the model's sha256
  version: z.coerce.string().optional(),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  // default: Ultralytics metadata `task` (detect / classify)
  task: z.enum(TASKS).optional(),
  description: z.string().optional(),
  input: inputSchema.default(inputSchema.parse({})),
  outputs: z.array(outputSchema).min(1).optional(),
  labels: z.array(z.string().min(1)).min(1).optional(),
  detection: detectionSchema.default(detectionSchema.parse({})),
  anomaly: anomalySchema.default(anomalySchema.parse({})),
  batch: batchSchema.default(batchSchema.parse({})),
  golden: z.array(goldenSchema).default([]),
});

export type RawManifest = z.output<typeof manifestSchema>;
/**
 * `cropPct` and `fastDecode` stay optional here, so input specs written before they existed (tests, benches)
 * still fit.
 */
export type InputSpec = Required<Omit<RawManifest['input'], 'cropPct' | 'fastDecode'>> & {
  cropPct?: number | undefined;
  fastDecode?: boolean | undefined;
};
export type BatchSpec = z.output<typeof batchSchema>;
export type OutputSpec = z.output<typeof outputSchema>;
export type GoldenSpec = z.output<typeof goldenSchema>;

/** anomalib v1 min-max normalisation of the raw score (anomalib's `normalize_min_max`). */
export interface AnomalyNormalization {
  imageThreshold: number;
  min: number;
  max: number;
}

/** A manifest with every gap filled from the model: what preprocessing and decoding use. */
export interface ModelManifest {
  schema: 1;
  id: string;
  sha256?: string | undefined;
  description?: string | undefined;
  detection: RawManifest['detection'];
  anomaly: RawManifest['anomaly'];
  /** how frames are batched (none: one frame per run); max > 1 only with a free batch dimension */
  batch?: BatchSpec | undefined;
  golden: GoldenSpec[];
  version: string;
  task: Task;
  input: InputSpec;
  outputs: OutputSpec[];
  labels: string[];
  /** set for anomalib v1 exports (a raw map without pred_score) */
  anomalyNormalization?: AnomalyNormalization;
}
