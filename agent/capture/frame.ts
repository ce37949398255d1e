/** One captured image: still encoded (a file, a snapshot) or raw pixels (decoded video). */
export type Frame =
  | { kind: 'encoded'; data: Buffer; capturedAt: number; name?: string; ref?: string; problem?: string }
  | {
      kind: 'raw';
      data: Buffer;
      width: number;
      height: number;
      channels: 3 | 4;
      capturedAt: number;
      name?: string;
      ref?: string;
      problem?: string;
    };

// `ref` identifies a frame that could come round again (a file: name, size, mtime), so a restart does not
// inspect it twice; stream frames have none. `problem` says why a frame the source did get (a file in the
// folder: not an image, truncated, too large) cannot be judged: the part is recorded as ERROR with that
// reason, never skipped, and never handed to a decoder.

/** A camera, seen from the pipeline: frames on demand. */
export interface FrameSource {
  readonly kind: string;
  /** Starts a stream source so frames flow before the first trigger (files and snapshots need no start). */
  open?(): void;
  /** Connection health of a watched stream source. */
  snapshot?(): WatchdogStatus;
  /** Entries a folder source found but will not read (symlinks, FIFOs, devices): how many, and the latest. */
  skipped?(): SkippedFiles;
  /** Resolves with the next frame captured after the call; rejects when the signal aborts. */
  next(signal: AbortSignal): Promise<Frame>;
  close(): Promise<void>;
}

export interface SkippedFiles {
  count: number;
  /** `name: why` of the latest one, or null when there are none now. */
  last: string | null;
}

// The health a stream source reports (`snapshot()`): part of the FrameSource contract, so it lives here,
// beside it; the watchdog (watchdog.ts) and the newest-frame slot (newest-frame.ts) produce it.

export interface FrameCounters {
  /** Frames that completed (whole and valid). */
  received: number;
  /** Frames handed to at least one caller of `next()`. */
  delivered: number;
  /** Frames that completed while nobody was waiting: replaced by a newer one, never delivered. */
  dropped: number;
}

/** `starting` only until the first frame or the first failure; afterwards one of the three others. */
export type ConnectionState = 'starting' | 'good' | 'degraded' | 'down';

export interface WatchdogStatus {
  state: ConnectionState;
  reason: string;
  lastFrameAgeMs: number | null;
  fps: number;
  reconnects: number;
  reconnectsLastHour: number;
  stallsLastHour: number;
  outagesLastHour: number;
  frames: FrameCounters;
}
