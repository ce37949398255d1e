/** Messages between the main thread and a session worker. Tensors travel as transferred buffers. */

export interface WireTensor {
  data: Float32Array | Uint8Array | Int32Array | BigInt64Array | Uint16Array;
  dims: readonly number[];
  type: string;
}

export type ToWorker =
  | { type: 'load'; modelPath: string; providers: string[]; intraOpThreads: number }
  | { type: 'run'; id: number; feeds: Record<string, WireTensor> };

export interface ProviderAttempt {
  provider: string;
  error?: string;
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
  | { type: 'result'; id: number; outputs: Record<string, WireTensor>; inferenceMs: number }
  | { type: 'run-failed'; id: number; error: string };
