import type ort from 'onnxruntime-node';

/**
 * The options every session the agent creates starts from (the session worker, and benchmarks that must run
 * the model exactly as the agent does): full graph optimisation, the model's intra-op thread count when
 * given (else onnxruntime's own), and threads that sleep rather than spin while they wait for work. Spinning
 * burned as much CPU as the inference itself between two frames (a 2-core box: 20 ms of CPU a frame
 * instead of 12, docs/models.md "Speed"), taken from the decodes running beside the session.
 */
export function sessionOptions(
  provider: string,
  intraOpThreads: number,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    ...(intraOpThreads > 0 ? { intraOpNumThreads: intraOpThreads } : {}),
    extra: { ...NO_SPIN },
  };
}

/** Session config keys (onnxruntime_session_options_config_keys.h) that stop the thread pools spinning. */
export const NO_SPIN = {
  'session.intra_op.allow_spinning': '0',
  'session.inter_op.allow_spinning': '0',
} as const;
