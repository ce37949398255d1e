import type { Logger } from 'pino';
import type { SourceConfig } from '../config/index.js';
import type { Clock } from '../service.js';
import { FfmpegSource } from './ffmpeg-source.js';
import { FolderSource } from './folder-source.js';
import type { ConnectionState, FrameSource } from './frame.js';
import { HttpSnapshotSource } from './http-source.js';
import { MjpegSource } from './mjpeg-source.js';
import { SyntheticSource } from './synthetic-source.js';
import { WatchedSource } from './watchdog.js';

export {
  Camera,
  type CameraProfile,
  type CameraShot,
  type CameraState,
  type CameraStatus,
  CONTINUOUS_PARTS_IN_FLIGHT,
  type ShotHandler,
} from './camera.js';
export { connectionReporter } from './connection-report.js';
export { decodeFrame, openGuarded } from './decode-frame.js';
export { FfmpegSource } from './ffmpeg-source.js';
export { FolderSource } from './folder-source.js';
export type {
  ConnectionState,
  Frame,
  FrameCounters,
  FrameSource,
  SkippedFiles,
  WatchdogStatus,
} from './frame.js';
export { HttpSnapshotSource } from './http-source.js';
export {
  DECODABLE_FORMATS,
  encodedFrameProblem,
  type ImageFormat,
  MAX_ENCODED_FRAME_PIXELS,
  sniffImage,
} from './image-check.js';
export { LookAhead } from './look-ahead.js';
export { MjpegSource } from './mjpeg-source.js';
export { SyntheticSource } from './synthetic-source.js';
export { WatchedSource } from './watchdog.js';

export interface SourceDeps {
  clock: Clock;
  log: Logger;
  /** Whether a file-like frame (by its reference) already has a stored decision: never inspect it twice. */
  alreadyDecided?: (ref: string) => boolean;
  /** A stream camera going down or coming back. */
  onStateChange?: (state: ConnectionState, reason: string) => void;
  /**
   * Build a stream source without its watchdog: `check` probes once, and a failure should be what ffmpeg or
   * the camera said, not a restart loop that ends in a timeout.
   */
  unwatched?: boolean;
}

/** Builds a camera's source; stream sources (rtsp, v4l2, mjpeg) are wrapped in a watchdog. */
export function createSource(config: SourceConfig, deps: SourceDeps): FrameSource {
  const { clock, log } = deps;
  const watch = (create: () => FfmpegSource | MjpegSource): FrameSource =>
    deps.unwatched
      ? create()
      : new WatchedSource({
          kind: config.type,
          create,
          log,
          clock,
          noFrameTimeoutMs: 'noFrameTimeoutMs' in config ? config.noFrameTimeoutMs : undefined,
          ...(deps.onStateChange ? { onStateChange: deps.onStateChange } : {}),
        });
  switch (config.type) {
    case 'folder':
      return new FolderSource(config.path, config.loop, config.pollMs, clock, deps.alreadyDecided, {
        settleMs: config.settleMs,
        incompleteMs: config.incompleteMs,
        maxBytes: config.maxFileMB * 1024 * 1024,
        log,
      });
    case 'synthetic':
      return new SyntheticSource(config.width, config.height, config.fps, clock);
    case 'http': {
      const { url, username, password, timeoutMs } = config;
      return new HttpSnapshotSource({ url, username, password, timeoutMs, log, clock });
    }
    case 'mjpeg': {
      const { url, username, password } = config;
      return watch(() => new MjpegSource({ url, username, password, log, clock }));
    }
    case 'rtsp':
      return watch(
        () =>
          new FfmpegSource({
            input: { type: 'rtsp', url: config.url, transport: config.transport },
            ffmpegPath: config.ffmpegPath,
            scale: config.scale,
            log,
            clock,
          }),
      );
    case 'v4l2':
      return watch(
        () =>
          new FfmpegSource({
            input: {
              type: 'v4l2',
              device: config.device,
              width: config.width,
              height: config.height,
              fps: config.fps,
            },
            ffmpegPath: config.ffmpegPath,
            scale: config.scale,
            log,
            clock,
          }),
      );
  }
}
