export { type LoadedManifest, loadManifest, type ModelManifest, manifestSchema } from './manifest.js';
export {
  type Inference,
  ModelRunner,
  type ModelState,
  type ModelStatus,
  type ProviderFallback,
  type RunnerConfig,
  type RunnerOptions,
} from './model-runner.js';
export { MAX_INPUT_PIXELS, preprocess, type Tensor, toTensor } from './preprocess.js';
export type { ProviderAttempt, WorkerFaults } from './protocol.js';
