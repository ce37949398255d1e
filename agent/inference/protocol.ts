/**
 * Messages between the main thread and a session worker. Frames and tensors travel as transferred buffers
 * (the main thread copies a frame's bytes once, since the caller keeps its own for storage); results are
 * small, but an anomaly map, which is transferred too.
 */

import type { MessagePort } from 'node:worker_threads';
import type { AnomalyMap } from './anomaly.js';
import type { ImageStats, Region, StatsInput } from './image-stats.js';
import type { InputSpec, ModelManifest } from './manifest-schema.js';
import type { Geometry } from './resize-plan.js';
import type { TaskResult } from './result.js';
import type { Tensor } from './tensor.js';

export interface WireTensor {
  data: Float32Array | Uint8Array | Int32Array | BigInt64Array | Uint16Array;
  dims: readonly number[];
  type: string;
}

/** A frame's bytes on their way to a worker: the worker decodes and preprocesses it itself. */
export type WireFrame =
  | { kind: 'encoded'; data: Uint8Array }
  | { kind: 'raw'; data: Uint8Array; width: number; height: number; channels: 3 | 4 };

/**
 * Test-only fault injection, set through `ModelRunner`'s options and never from agent.yaml: lets the
 * provider fallback paths be exercised on a machine without a GPU.
 */
export interface WorkerFaults {
  /** Load these provider names with onnxruntime's CPU provider (a stand-in for a GPU that is not here). */
  emulate?: string[];
  /** Every run on this provider fails after `afterRuns` successful ones (a GPU that fails mid-shift). */
  failRuns?: { provider: string; afterRuns: number };
  /** The pool's first decode worker exits when its N-th frame arrives (a crash in the decode thread). */
  exitDecoderOnFrame?: number;
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
  /** How to read the outputs (and warm up): needed for frame jobs (tensor jobs need none). */
  manifest?: ModelManifest | undefined;
  /** Where this worker's frames come from, preprocessed: its channel to the pool's decode worker. */
  decoder?: MessagePort | undefined;
}

/**
 * A frame this worker will run (alone or batched with others) and decode into the task's result, once the
 * decode worker hands it over preprocessed (FrameReady, by the same id).
 */
export interface FrameRequest {
  type: 'frame';
  id: number;
}

/** A new channel to a new decode worker: the frames the old one had not handed over are lost. */
export interface DecoderRequest {
  type: 'decoder';
  port: MessagePort;
}

/** Ready tensors to run as they are (model benchmarks); the raw outputs come back. */
export interface RunRequest {
  type: 'run';
  id: number;
  feeds: Record<string, WireTensor>;
  /** The part of the input that shows the frame, for its image statistics. */
  region?: Region | undefined;
}

/** The caller gave up on a job: drop it unless its session.run has begun. */
export interface CancelRequest {
  type: 'cancel';
  id: number;
}

/** Run a blank input once (and once at the largest batch), so the first frame does not pay for it. */
export interface WarmRequest {
  type: 'warm';
}

/** End the thread once no decode is in flight (terminating it inside a sharp call can crash the process). */
export interface CloseRequest {
  type: 'close';
}

export type ToWorker =
  | LoadRequest
  | FrameRequest
  | DecoderRequest
  | RunRequest
  | CancelRequest
  | WarmRequest
  | CloseRequest;

/**
 * To the pool's decode worker: frames are decoded there, in a thread that never blocks in session.run, so
 * the decode of the next frame starts at once even while a session worker is busy inferring.
 */
export type ToDecoder =
  | { type: 'init'; input: InputSpec; stats: boolean; exitOnFrame?: number }
  /** the channel to session worker `slot` (a replacement's channel replaces the old one) */
  | { type: 'attach'; slot: number; port: MessagePort }
  | { type: 'decode'; id: number; slot: number; frame: WireFrame }
  | CloseRequest;

/** From the decode worker to a session worker, on their channel. */
export type FrameReady =
  | {
      type: 'ready';
      id: number;
      tensor: Tensor;
      geometry: Geometry;
      sourceWidth: number;
      sourceHeight: number;
      imageStats?: ImageStats | undefined;
      preprocessMs: number;
    }
  | { type: 'failed'; id: number; code: string; error: string };

export interface ProviderAttempt {
  provider: string;
  error?: string;
  /** Which step rejected it: the session would not load, or warm-up / golden images failed on it. */
  stage?: 'load' | 'warm-up' | 'golden' | 'run';
}

/** One frame's outcome, decoded in the worker. */
export interface Judged {
  result: TaskResult;
  maps?: { anomaly?: AnomalyMap } | undefined;
  imageStats?: ImageStats | undefined;
  sourceWidth: number;
  sourceHeight: number;
  /** decode + resize + tensor, as this frame waited for it (libuv's pool included) */
  preprocessMs: number;
  /** the session.run this frame was part of */
  inferenceMs: number;
  /** how many frames that session.run took */
  batch: number;
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
  | ({ type: 'judged'; id: number } & Judged)
  /** the session itself failed: the provider may be at fault */
  | { type: 'run-failed'; id: number; error: string }
  /** the frame or the outputs were at fault (an undecodable frame, NaN outputs), not the provider */
  | { type: 'job-failed'; id: number; code: string; error: string }
  | { type: 'cancelled'; id: number }
  /** `batch`: the largest batch the session took (1 when the outputs did not split per frame) */
  | { type: 'warmed'; batch: number; error?: string; providerFault?: boolean };
