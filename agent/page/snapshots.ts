import type { Logger } from 'pino';
import type { Frame } from '../capture/index.js';
import { AgentError, agentError, describeError, ErrorCodes } from '../errors.js';
import type { Clock } from '../service.js';
import { frameJpeg } from '../store/index.js';
import { type FocusMeter, measureFocus } from './focus-meter.js';

/** What the snapshot route needs of a camera (capture/Camera implements it). */
export interface AimableCamera {
  latestFrame(): Frame | undefined;
  grab(signal: AbortSignal): Promise<Frame> | undefined;
}

export interface Snapshot {
  jpeg: Buffer;
  meter: FocusMeter;
  capturedAt: number;
}

/**
 * At most this often per camera is a new snapshot made, however many pages, tabs and streams ask: the
 * others get the one made last. 2.5 a second is enough to turn a focus ring by, and bounds what aiming
 * costs the line (one JPEG encode for raw frames and one grey decode, in sharp's pool).
 */
export const SNAPSHOT_MIN_INTERVAL_MS = 400;
/** The camera's newest frame is shown as is while it is this fresh; an older one is replaced by a grab. */
const FRESH_MS = 1_000;
/** A grab (a stream's next frame, a snapshot URL's answer) that takes longer falls back to the newest frame. */
const GRAB_TIMEOUT_MS = 3_000;

interface Cached extends Snapshot {
  frame: Frame;
  madeAt: number;
}

/**
 * Snapshots for aiming and focusing (`GET /api/cameras/:id/snapshot`, the MJPEG stream): the camera's
 * newest frame as JPEG with its sharpness and exposure, made at most every SNAPSHOT_MIN_INTERVAL_MS per
 * camera and shared by everyone asking. A free-running camera already has a fresh frame; a triggered or
 * idle stream camera is grabbed from (never a folder camera, whose files are parts).
 */
export class Snapshots {
  private readonly cache = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<Cached>>();

  constructor(
    private readonly cameras: ReadonlyMap<string, AimableCamera>,
    private readonly deps: { clock: Clock; log: Logger },
  ) {}

  get(cameraId: string): Promise<Snapshot> {
    const camera = this.cameras.get(cameraId);
    if (!camera) {
      return Promise.reject(
        agentError('CAMERA_NOT_FOUND', { camera: cameraId, known: [...this.cameras.keys()] }),
      );
    }
    const cached = this.cache.get(cameraId);
    if (cached && this.deps.clock.now() - cached.madeAt < SNAPSHOT_MIN_INTERVAL_MS)
      return Promise.resolve(cached);
    let work = this.pending.get(cameraId);
    if (!work) {
      work = this.make(cameraId, camera, cached).finally(() => this.pending.delete(cameraId));
      this.pending.set(cameraId, work);
    }
    return work;
  }

  private async make(cameraId: string, camera: AimableCamera, cached: Cached | undefined): Promise<Cached> {
    const now = this.deps.clock.now();
    const frame = await this.frameOf(cameraId, camera, now);
    if (cached && cached.frame === frame) {
      cached.madeAt = now;
      return cached;
    }
    try {
      const [jpeg, meter] = await Promise.all([frameJpeg(frame), measureFocus(frame)]);
      const made: Cached = {
        jpeg,
        meter,
        capturedAt: frame.capturedAt,
        frame,
        madeAt: this.deps.clock.now(),
      };
      this.cache.set(cameraId, made);
      return made;
    } catch (err) {
      throw new AgentError(
        ErrorCodes.FRAME_UNAVAILABLE,
        `camera ${cameraId}: its newest frame could not be shown (${describeError(err)})`,
        { cause: err },
      );
    }
  }

  private async frameOf(cameraId: string, camera: AimableCamera, now: number): Promise<Frame> {
    const latest = camera.latestFrame();
    if (latest && now - latest.capturedAt <= FRESH_MS) return latest;
    const abort = new AbortController();
    const timer = this.deps.clock.setTimeout(
      () => abort.abort(new Error(`no frame within ${GRAB_TIMEOUT_MS} ms`)),
      GRAB_TIMEOUT_MS,
    );
    try {
      const grabbed = camera.grab(abort.signal);
      if (grabbed) return await grabbed;
    } catch (err) {
      if (!latest) {
        throw new AgentError(
          ErrorCodes.FRAME_UNAVAILABLE,
          `camera ${cameraId} has no frame yet: ${describeError(err)}`,
          { cause: err },
        );
      }
      this.deps.log.debug({ err, cameraId }, 'snapshot grab failed; showing the newest frame');
    } finally {
      this.deps.clock.clearTimeout(timer);
    }
    if (latest) return latest;
    throw agentErrorNoFrame(cameraId);
  }
}

function agentErrorNoFrame(cameraId: string): AgentError {
  return new AgentError(
    ErrorCodes.FRAME_UNAVAILABLE,
    `camera ${cameraId} has no frame yet: a folder camera shows the last file it judged, and a disabled camera takes none`,
  );
}
