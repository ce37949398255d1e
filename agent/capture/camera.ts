import type { Logger } from 'pino';
import type { CameraConfig } from '../config/index.js';
import { agentError, describeError } from '../errors.js';
import { STOP_TIMEOUT_MS } from '../lifecycle.js';
import type { AgentMetrics } from '../metrics.js';
import { type Clock, type Service, sleep } from '../service.js';
import type { ConnectionState, Frame, FrameSource, SkippedFiles } from './frame.js';
import type { LookAhead } from './look-ahead.js';
import { RateLimitedLog } from './rate-limited-log.js';

/** A part to inspect: when it was triggered and the frame that shows it (still arriving, perhaps). */
export interface CameraShot {
  partId?: string;
  triggeredAt: number;
  frame: Promise<Frame>;
}

/** What the camera hands each shot to; resolves when the shot's decision is stored. */
export type ShotHandler<R> = (shot: CameraShot) => Promise<R>;

export type CameraState = 'starting' | 'running' | 'waiting-for-model' | 'disabled' | 'stopped';

/** Recipes: what the camera judges with right now (the model id and deadline change with the recipe). */
export interface CameraProfile {
  readonly modelId: string;
  readonly deadlineMs: number;
  readonly recipe?: string | undefined;
}

export interface CameraStatus {
  id: string;
  state: CameraState;
  enabled: boolean;
  trigger: string;
  source: string;
  model: string;
  /** The active recipe, when recipes are configured. */
  recipe?: string;
  fps: number;
  lastFrameAgeMs: number | null;
  inflight: number;
  /** Ticks skipped since start because the previous part was still being judged (interval triggers). */
  framesSkipped: number;
  reconnects: number;
  reconnectsLastHour: number;
  stallsLastHour: number;
  /** Stream sources only: the watchdog's view (good / degraded / down). */
  connection: { state: ConnectionState; reason: string; streamFps: number } | null;
  /** Folder sources only: entries found but not judged now (symlinks, FIFOs, empty or unfinished files). */
  skippedFiles?: SkippedFiles;
  lastError: string | null;
}

/** After a capture error, wait this long before trying again so a dead source cannot spin the CPU. */
const CAPTURE_RETRY_MS = 1_000;
/**
 * A requested shot stops waiting for its frame this long after its deadline: the deadline's fallback
 * verdict (UNCERTAIN, degraded) is what a missing frame gets; this only releases the wait.
 */
const GRAB_GRACE_MS = 1_000;
/** The measured fps is averaged over this window. */
const FPS_WINDOW_MS = 10_000;
/**
 * A continuous camera has at most this many parts in flight: the one being judged and the next, already
 * started (its frame read and handed to the model) so that its decode runs while the other infers. One
 * ahead, never more: a slow model costs the line throughput, never a queue of stale frames or memory. With
 * a LookAhead, the cameras of one model share one part ahead between them.
 */
export const CONTINUOUS_PARTS_IN_FLIGHT = 2;

/**
 * One camera: its source and its trigger. `interval` takes a frame per tick, one part in flight at a time (a
 * tick that finds the camera busy is skipped and counted); `continuous` takes frames as fast as the model
 * judges them, with the next part started while one is judged (CONTINUOUS_PARTS_IN_FLIGHT); requested
 * triggers (`mqtt`, `http`, `plc`) each become a shot with the first frame captured after the request. The
 * inspector records a camera's parts in the order they were handed to it (docs/capture.md).
 */
export class Camera<R> implements Service {
  readonly name: string;
  private state: CameraState = 'starting';
  private enabled: boolean;
  private loopAbort: AbortController | undefined;
  private loopDone: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  private lastFrameAt: number | null = null;
  private lastFrame: Frame | undefined;
  private skipped = 0;
  private frameTimes: number[] = [];
  private lastError: string | null = null;
  /** The model whose part ahead this camera holds (LookAhead), while it has two parts in flight. */
  private aheadFor: string | undefined;
  private captureOk: boolean | null = null;
  private readonly captureLog: RateLimitedLog;

  constructor(
    private readonly config: CameraConfig,
    private readonly source: FrameSource,
    private readonly handle: ShotHandler<R>,
    private readonly isModelReady: () => boolean,
    private readonly deps: {
      clock: Clock;
      log: Logger;
      metrics: AgentMetrics;
      /** A tick skipped because the previous part was still being judged (the model's throughput). */
      onSkipped?: () => void;
      /** Recipes: the model, deadline and recipe of the next shot (default: the camera's config). */
      profile?: () => CameraProfile;
      /** Continuous: the parts ahead shared with the other cameras (default: one ahead for this camera). */
      lookAhead?: LookAhead;
    },
  ) {
    this.name = `camera:${config.id}`;
    this.captureLog = new RateLimitedLog(deps.log, undefined, deps.clock);
    this.enabled = config.enabled;
  }

  get id(): string {
    return this.config.id;
  }

  /** Whether the last capture gave a frame (null before the first): the health of a source without a watchdog. */
  get lastCaptureOk(): boolean | null {
    return this.captureOk;
  }

  /** Parts in flight end by their deadline; stopping may take that long, and the usual margin on top. */
  get stopTimeoutMs(): number {
    return Math.max(this.config.deadlineMs, this.profile().deadlineMs) + STOP_TIMEOUT_MS;
  }

  private profile(): CameraProfile {
    return this.deps.profile?.() ?? { modelId: this.config.model, deadlineMs: this.config.deadlineMs };
  }

  /** Triggered from outside (MQTT, HTTP or a PLC): one shot per request, no loop of its own. */
  get requestable(): boolean {
    const { type } = this.config.trigger;
    return type === 'mqtt' || type === 'http' || type === 'plc';
  }

  async start(): Promise<void> {
    this.state = this.enabled ? 'running' : 'disabled';
    if (this.enabled) this.source.open?.();
    if (this.enabled && !this.requestable) this.startLoop();
  }

  /** Stops triggering, then waits for parts in flight: each ends by its deadline with a stored verdict. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    this.loopAbort?.abort(new Error('camera stopping'));
    await this.loopDone;
    await Promise.allSettled([...this.inflight]);
    await this.source.close();
  }

  setEnabled(enabled: boolean): void {
    if (enabled === this.enabled || this.state === 'stopped') return;
    this.enabled = enabled;
    // before start() only the wish is kept: start() opens the source and runs the one loop
    if (this.state === 'starting') return;
    this.state = enabled ? 'running' : 'disabled';
    if (this.requestable) return;
    if (enabled) this.startLoop();
    else this.loopAbort?.abort(new Error('camera disabled'));
  }

  /** A requested trigger (MQTT or HTTP): one part, one decision. */
  trigger(partId?: string): Promise<R> {
    if (!this.enabled || this.state === 'stopped') {
      const state = this.enabled ? 'stopped' : 'disabled';
      return Promise.reject(agentError('CAMERA_DISABLED', { camera: this.config.id, state }));
    }
    const triggeredAt = this.deps.clock.now();
    const grab = new AbortController();
    const timer = this.deps.clock.setTimeout(
      () => grab.abort(new Error('no frame before the deadline')),
      this.profile().deadlineMs + GRAB_GRACE_MS,
    );
    const frame = this.source.next(grab.signal).finally(() => this.deps.clock.clearTimeout(timer));
    frame.then((f) => this.noteFrame(f)).catch((err: unknown) => this.noteCaptureError(err));
    return this.track(this.handle({ ...(partId !== undefined ? { partId } : {}), triggeredAt, frame }));
  }

  /** The newest frame this camera captured (for aiming: the snapshot route), if any. */
  latestFrame(): Frame | undefined {
    return this.lastFrame;
  }

  /**
   * A fresh frame for a person aiming the camera, outside any part: only from sources where taking one
   * costs no part its frame (streams share their newest frame among all waiters; a snapshot URL is simply
   * fetched again). A folder camera's files are parts, so it is never grabbed from: undefined.
   */
  grab(signal: AbortSignal): Promise<Frame> | undefined {
    if (this.source.kind === 'folder' || !this.enabled || this.state === 'stopped') return undefined;
    const frame = this.source.next(signal);
    // newest frame and its age, yes; the measured fps counts the frames the line takes, not these
    frame
      .then((f) => {
        this.lastFrame = f;
        this.lastFrameAt = f.capturedAt;
      })
      .catch(() => {}); // the caller gets the same rejection
    return frame;
  }

  snapshot(): CameraStatus {
    const now = this.deps.clock.now();
    this.frameTimes = this.frameTimes.filter((t) => now - t <= FPS_WINDOW_MS);
    const watch = this.source.snapshot?.();
    const profile = this.profile();
    return {
      id: this.config.id,
      state: this.state,
      enabled: this.enabled,
      trigger: this.config.trigger.type,
      source: this.source.kind,
      model: profile.modelId,
      ...(profile.recipe !== undefined ? { recipe: profile.recipe } : {}),
      fps: Math.round((this.frameTimes.length / (FPS_WINDOW_MS / 1000)) * 100) / 100,
      lastFrameAgeMs: watch
        ? watch.lastFrameAgeMs
        : this.lastFrameAt === null
          ? null
          : now - this.lastFrameAt,
      inflight: this.inflight.size,
      framesSkipped: this.skipped,
      reconnects: watch?.reconnects ?? 0,
      reconnectsLastHour: watch?.reconnectsLastHour ?? 0,
      stallsLastHour: watch?.stallsLastHour ?? 0,
      connection: watch ? { state: watch.state, reason: watch.reason, streamFps: watch.fps } : null,
      ...(this.source.skipped ? { skippedFiles: this.source.skipped() } : {}),
      lastError: this.lastError,
    };
  }

  private startLoop(): void {
    const abort = new AbortController();
    this.loopAbort = abort;
    this.loopDone = this.runLoop(abort.signal)
      .catch((err: unknown) => {
        if (!abort.signal.aborted) this.deps.log.error({ err }, 'camera loop ended unexpectedly');
      })
      .finally(() => {
        // no more parts from this loop: its part ahead and its place in line go to the other cameras
        this.deps.lookAhead?.leave(this.config.id);
        this.aheadFor = undefined;
      });
  }

  private async runLoop(signal: AbortSignal): Promise<void> {
    const { trigger } = this.config;
    const periodMs = trigger.type === 'interval' ? 1000 / trigger.fps : 0;
    let nextTick = this.deps.clock.now();
    while (!signal.aborted) {
      if (!this.isModelReady()) {
        // frames stay where they are (a folder keeps its files) until the model can judge them
        this.state = 'waiting-for-model';
        await sleep(CAPTURE_RETRY_MS, signal, this.deps.clock);
        continue;
      }
      this.state = 'running';
      if (periodMs > 0) {
        nextTick += periodMs;
        const wait = nextTick - this.deps.clock.now();
        if (wait > 0) await sleep(wait, signal, this.deps.clock);
        else nextTick = this.deps.clock.now(); // fell behind: do not try to catch up with a burst
      }
      const busy = periodMs === 0 ? !this.mayStartPart() : this.inflight.size > 0;
      if (busy) {
        if (periodMs === 0) {
          // continuous, one part judged and the next already started (or no part ahead free): one is waited
          // for, never spun on, and the next frame is taken as soon as it is done
          await this.oneSettled(signal);
          continue;
        }
        // interval mode and the previous part is still being judged: skip this tick (counted) rather than
        // queue frames without bound; a folder keeps its file for the next tick, a stream moves on
        this.deps.metrics.framesSkipped.inc({ camera: this.config.id });
        this.skipped += 1;
        this.deps.onSkipped?.();
        continue;
      }
      let frame: Frame;
      try {
        frame = await this.source.next(signal);
      } catch (err) {
        if (signal.aborted) return;
        this.noteCaptureError(err);
        await sleep(CAPTURE_RETRY_MS, signal, this.deps.clock);
        continue;
      }
      this.noteFrame(frame);
      // not awaited: the loop goes on to the next frame (continuous) or tick (interval) meanwhile; a failed
      // shot is kept as lastError and logged by track()
      void this.track(this.handle({ triggeredAt: frame.capturedAt, frame: Promise.resolve(frame) }));
    }
  }

  /**
   * Continuous: whether the next part may start now. With none in flight, yes; with one, only as the part
   * ahead (a LookAhead slot for the model, when cameras share them); with two, no.
   */
  private mayStartPart(): boolean {
    if (this.inflight.size === 0) return true;
    if (this.inflight.size >= CONTINUOUS_PARTS_IN_FLIGHT) return false;
    const { lookAhead } = this.deps;
    if (!lookAhead) return true;
    const model = this.profile().modelId;
    if (!lookAhead.take(model, this.config.id)) return false;
    this.aheadFor = model;
    return true;
  }

  /** The part ahead is given back once the camera is down to one part in flight. */
  private releaseAhead(): void {
    if (this.aheadFor === undefined || this.inflight.size > 1) return;
    this.deps.lookAhead?.give(this.aheadFor, this.config.id);
    this.aheadFor = undefined;
  }

  /** Resolves when a part in flight is done, or when `signal` aborts (the loop stopping). */
  private oneSettled(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      void Promise.race([...this.inflight]).then(done);
    });
  }

  private track(work: Promise<R>): Promise<R> {
    const tracked = work.catch((err: unknown) => {
      this.lastError = describeError(err);
      // a store that cannot write fails every shot (issue 16): one line a minute, with the count held back
      this.captureLog.error('shot', { err }, 'a shot failed to produce a stored decision');
      throw err;
    });
    const settled = tracked.catch(() => {});
    this.inflight.add(settled);
    void settled.finally(() => {
      this.inflight.delete(settled);
      this.releaseAhead();
    });
    return tracked;
  }

  private noteFrame(frame: Frame): void {
    this.lastFrame = frame;
    this.captureOk = true;
    this.lastFrameAt = frame.capturedAt;
    this.frameTimes.push(frame.capturedAt);
  }

  private noteCaptureError(err: unknown): void {
    this.captureOk = false;
    this.lastError = describeError(err);
    this.deps.metrics.captureErrors.inc({ camera: this.config.id });
    // a dead camera fails every attempt: one line per minute, with the count of the ones held back
    this.captureLog.warn('capture', { err }, 'capture failed');
  }
}
