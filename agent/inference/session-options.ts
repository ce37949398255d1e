import type ort from 'onnxruntime-node';

/**
 * The options every session the agent creates starts from (the session worker, and the benchmark's limit
 * measurement, which must run the model exactly as the agent does): full graph optimisation, and
 * onnxruntime's own thread count unless the model's `intraOpThreads` sets one.
 */
export function sessionOptions(
  provider: string,
  intraOpThreads: number,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    ...(intraOpThreads > 0 ? { intraOpNumThreads: intraOpThreads } : {}),
  };
}
