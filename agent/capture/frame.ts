/** One captured image: still encoded (a file, a snapshot) or raw pixels (decoded video). */
export type Frame =
  | { kind: 'encoded'; data: Buffer; capturedAt: number; name?: string }
  | {
      kind: 'raw';
      data: Buffer;
      width: number;
      height: number;
      channels: 3 | 4;
      capturedAt: number;
      name?: string;
    };

/** A camera, seen from the pipeline: frames on demand. */
export interface FrameSource {
  readonly kind: string;
  /** Resolves with the next frame captured after the call; rejects when the signal aborts. */
  next(signal: AbortSignal): Promise<Frame>;
  close(): Promise<void>;
}
