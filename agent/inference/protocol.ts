/** Messages between the main thread and a session worker. Tensors travel as transferred buffers. */

import type { ImageStats, Region, StatsInput } from './image-stats.js';

export interface WireTensor {
  data: Float32Array | Uint8Array | Int32Array | BigInt64Array | Uint16Array;
  dims: readonly number[];
  type: string;
}

/**
 * Test-only fault injection, set through `ModelRunner`'s options and never from agent.yaml: lets the
 * provider fallback paths be exercised on a machine without a GPU.
 */
export interface WorkerFaults {
  /** Load these provider names with onnxruntime's CPU provider (a stand-in for a GPU that is not here). */
  emulate?: string[];
  /** Every run on this provider fails after `afterRuns` successful ones (a GPU that fails mid-shift). */
  failRuns?: { provider: string; afterRuns: number };
}

export interface LoadRequest {
  type: 'load';
  modelPath: string;
  providers: string[];
  intraOpThreads: number;
  /** Where TensorRT's EP-context model is dumped and later loaded from (engine cache); none = no cache. */
  engineCacheFile?: string | undefined;
  /**
   * The sha256 the model file had when it was verified: a worker loading it later (a replacement after a
   * crash, a provider fallback) refuses a file that changed since, instead of running another model.
   */
  expectSha256?: string | undefined;
  faults?: WorkerFaults | undefined;
  /**
   * How to read the frame back out of the input tensor for its image statistics (image-stats.ts), which
   * the worker computes beside each run; none = no statistics.
   */
  stats?: { feed: string; input: StatsInput } | undefined;
}

export interface RunRequest {
  type: 'run';
  id: number;
  feeds: Record<string, WireTensor>;
  /** The part of the input that shows the frame, for its image statistics. */
  region?: Region | undefined;
}

export type ToWorker = LoadRequest | RunRequest;

export interface ProviderAttempt {
  provider: string;
  error?: string;
  /** Which step rejected it: the session would not load, or warm-up / golden images failed on it. */
  stage?: 'load' | 'warm-up' | 'golden' | 'run';
}

export type FromWorker =
  | {
      type: 'loaded';
      provider: string;
      attempts: ProviderAttempt[];
      inputNames: string[];
      outputNames: string[];
    }
  | { type: 'load-failed'; attempts: ProviderAttempt[] }
  | {
      type: 'result';
      id: number;
      outputs: Record<string, WireTensor>;
      inferenceMs: number;
      imageStats?: ImageStats | undefined;
    }
  | { type: 'run-failed'; id: number; error: string };
