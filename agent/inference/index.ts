export { type AnomalyMap, normalizeMinMax } from './anomaly.js';
export { type Decoded, decodeOutputs } from './decode.js';
export { type Detection, decodeDetection, nms } from './detection.js';
export { type DetectionFormat, detectionLayout } from './detection-layout.js';
export { float16BitsToFloat32, float32ToFloat16Bits } from './float16.js';
export { goldenFailure } from './golden.js';
export {
  CLIP_BRIGHT,
  CLIP_DARK,
  type ImageStats,
  imageStatsOf,
  type Region,
  type StatsInput,
  THUMB_MAX_SIDE,
} from './image-stats.js';
export {
  findManifest,
  type LoadedManifest,
  loadManifest,
  parseManifest,
  readRawManifest,
} from './manifest.js';
export { type ModelManifest, manifestSchema, type Task } from './manifest-schema.js';
export {
  type Inference,
  loadingStatus,
  ModelRunner,
  type ModelState,
  type ModelStatus,
  type ProviderFallback,
  type RunnerConfig,
  type RunnerOptions,
} from './model-runner.js';
export { type OnnxInfo, type Precision, readOnnxInfo, readUltralyticsMeta } from './onnx-info.js';
export { onnxLayoutProblem } from './onnx-structure.js';
export {
  contentRegion,
  type Geometry,
  MAX_INPUT_PIXELS,
  planResize,
  preprocess,
  type Tensor,
  toTensor,
} from './preprocess.js';
export type { ProviderAttempt, WireTensor, WorkerFaults } from './protocol.js';
export type { ModelRef, TaskResult } from './result.js';
export { sessionOptions } from './session-options.js';
export { SessionPool } from './worker-pool.js';
