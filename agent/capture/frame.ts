import type { WatchdogStatus } from './watchdog.js';

/** One captured image: still encoded (a file, a snapshot) or raw pixels (decoded video). */
export type Frame =
  | { kind: 'encoded'; data: Buffer; capturedAt: number; name?: string; ref?: string }
  | {
      kind: 'raw';
      data: Buffer;
      width: number;
      height: number;
      channels: 3 | 4;
      capturedAt: number;
      name?: string;
      ref?: string;
    };

// `ref` identifies a frame that could come round again (a file: name, size, mtime), so a restart does not
// inspect it twice; stream frames have none.

/** A camera, seen from the pipeline: frames on demand. */
export interface FrameSource {
  readonly kind: string;
  /** Starts a stream source so frames flow before the first trigger (files and snapshots need no start). */
  open?(): void;
  /** Connection health of a watched stream source. */
  snapshot?(): WatchdogStatus;
  /** Resolves with the next frame captured after the call; rejects when the signal aborts. */
  next(signal: AbortSignal): Promise<Frame>;
  close(): Promise<void>;
}
