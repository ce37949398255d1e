import type { Logger } from 'pino';
import { NO_FRAME_TIMEOUT_MS } from '../config/index.js';
import { AgentError, agentError, describeError, ErrorCodes } from '../errors.js';
import { backoffDelay, type Clock, sleep, systemClock, withTimeout } from '../service.js';
import type { ConnectionState, Frame, FrameSource, WatchdogStatus } from './frame.js';
import { NewestFrameSlot } from './newest-frame.js';

/** A stream source the watchdog can run: started by `open()`, ended for good by its own failure or close. */
export interface WatchableSource extends FrameSource {
  open(): void;
  /** The source's last own log lines (ffmpeg's stderr, MJPEG parse problems), logged at each restart. */
  recentDiagnostics(): string[];
}

/** A camera rebooting takes 30-90 s: retrying faster than 1 s only fills logs, slower than 60 s delays recovery. */
export const BACKOFF_MIN_MS = 1_000;
export const BACKOFF_MAX_MS = 60_000;
/** fps is measured over this window, as Camera does. */
export const FPS_WINDOW_MS = 10_000;
/** A frame older than this (but short of the restart timeout) is a hiccup in progress: degraded, not down. */
export const DEGRADED_FRAME_AGE_MS = 5_000;
/** One outage an hour is a blip; three or more is a flapping link (PoE, Wi-Fi bridge) that will cost parts. */
export const DEGRADED_OUTAGES_PER_HOUR = 3;
/** Under half the expected rate, the wait for "the first frame after the trigger" doubles: degraded. */
export const DEGRADED_FPS_RATIO = 0.5;
/** Closing a stuck source must not hang shutdown: each source's close is bounded by this. */
const SOURCE_CLOSE_TIMEOUT_MS = 10_000;
const HOUR_MS = 3_600_000;

export interface QualityInput {
  lastFrameAgeMs: number;
  outagesLastHour: number;
  fps: number;
  expectedFps: number | undefined;
  staleAfterMs: number;
}

/** good or degraded, for a stream that is delivering; `down` is decided by the restart path alone. */
export function connectionQuality(s: QualityInput): { state: 'good' | 'degraded'; reason: string } {
  if (s.lastFrameAgeMs > s.staleAfterMs) {
    return { state: 'degraded', reason: `no frame for ${Math.round(s.lastFrameAgeMs)} ms` };
  }
  if (s.outagesLastHour >= DEGRADED_OUTAGES_PER_HOUR) {
    return { state: 'degraded', reason: `${s.outagesLastHour} outages in the last hour` };
  }
  if (s.expectedFps !== undefined && s.fps > 0 && s.fps < s.expectedFps * DEGRADED_FPS_RATIO) {
    return { state: 'degraded', reason: `${s.fps.toFixed(1)} fps, expected ${s.expectedFps}` };
  }
  return { state: 'good', reason: 'frames flowing' };
}

export interface WatchedSourceOptions {
  /** Reported as the source kind (`rtsp`, `mjpeg`, ...). */
  kind: string;
  /** Makes a fresh source for each (re)start; a source is never reopened once it ended. */
  create: () => WatchableSource;
  log: Logger;
  clock?: Clock;
  noFrameTimeoutMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** The camera's nominal rate; when given, a stream far below it is `degraded`. */
  expectedFps?: number;
  /** Called on every change of state; the place to raise and clear a camera-down alert. */
  onStateChange?: (state: ConnectionState, reason: string) => void;
  random?: () => number;
}

/**
 * Keeps a stream source alive: restarts it, with jittered exponential backoff, when it ends or when no frame
 * came for `noFrameTimeoutMs`, logging its last diagnostics each time; measures fps, frame age, reconnects,
 * stalls and outages per hour, and a connection state. Frames are pulled from the current source into a
 * newest-frame slot of its own, so a `next()` waiting through a restart resolves with the first frame after
 * recovery (or is aborted by its caller's deadline).
 */
export class WatchedSource implements FrameSource {
  readonly kind: string;
  private readonly slot = new NewestFrameSlot();
  private readonly clock: Clock;
  private readonly closing = new AbortController();
  private readonly timeoutMs: number;
  private running: Promise<void> | undefined;
  private pumpAbort: AbortController | undefined;
  private timer: ReturnType<Clock['setTimeout']> | undefined;
  private state: ConnectionState = 'starting';
  private reason = 'starting';
  private attemptStartedAt = 0;
  private lastFrameAt: number | null = null;
  private frameTimes: number[] = [];
  private restarts: number[] = [];
  private stalls: number[] = [];
  private outages: number[] = [];
  private reconnects = 0;

  constructor(private readonly opts: WatchedSourceOptions) {
    this.kind = opts.kind;
    this.clock = opts.clock ?? systemClock;
    this.timeoutMs = opts.noFrameTimeoutMs ?? NO_FRAME_TIMEOUT_MS;
  }

  /** Starts watching (once); frames flow and the state is tracked from then on, whether or not anyone asks. */
  open(): void {
    if (this.running || this.closing.signal.aborted) return;
    this.running = this.run();
    this.scheduleCheck();
  }

  next(signal: AbortSignal): Promise<Frame> {
    this.open();
    return this.slot.wait(signal);
  }

  async close(): Promise<void> {
    const closed = new AgentError(ErrorCodes.CAMERA_SOURCE, 'source closed');
    this.closing.abort(closed);
    this.pumpAbort?.abort(closed);
    this.slot.end(closed);
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    await this.running;
  }

  snapshot(): WatchdogStatus {
    const now = this.clock.now();
    this.prune(now);
    return {
      state: this.state,
      reason: this.reason,
      lastFrameAgeMs: this.lastFrameAt === null ? null : now - this.lastFrameAt,
      fps: Math.round(this.fps() * 100) / 100,
      reconnects: this.reconnects,
      reconnectsLastHour: this.restarts.length,
      stallsLastHour: this.stalls.length,
      outagesLastHour: this.outages.length,
      frames: { ...this.slot.counters },
    };
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.closing.signal.aborted) {
      let source: WatchableSource | undefined;
      let why: string;
      let delivered = false;
      this.attemptStartedAt = this.clock.now();
      try {
        source = this.opts.create();
        source.open();
        [why, delivered] = await this.pump(source);
      } catch (err) {
        why = `cannot start the source: ${describeError(err)}`;
      } finally {
        await this.closeQuietly(source);
      }
      if (this.closing.signal.aborted) return;
      if (delivered) attempt = 0; // it worked for a while: start the backoff over
      const delayMs = backoffDelay(
        attempt++,
        this.opts.backoffMinMs ?? BACKOFF_MIN_MS,
        this.opts.backoffMaxMs ?? BACKOFF_MAX_MS,
        this.opts.random,
      );
      this.reconnects++;
      this.restarts.push(this.clock.now());
      this.frameTimes = []; // the rate of the new connection is measured on its own
      this.setState('down', why);
      this.opts.log.warn(
        { reason: why, attempt, delayMs, diagnostics: source?.recentDiagnostics() ?? [] },
        'camera source restarting',
      );
      try {
        await sleep(delayMs, this.closing.signal, this.clock);
      } catch {
        return; // closed during the backoff
      }
    }
  }

  /** Pulls frames until the source ends or the stall check aborts it; says why, and whether it delivered. */
  private async pump(source: WatchableSource): Promise<[string, boolean]> {
    const abort = new AbortController();
    this.pumpAbort = abort;
    let delivered = false;
    try {
      for (;;) {
        const frame = await source.next(abort.signal);
        delivered = true;
        this.onFrame(frame);
      }
    } catch (err) {
      if (abort.signal.aborted) return [describeError(abort.signal.reason), delivered];
      return [`source ended: ${describeError(err)}`, delivered];
    } finally {
      this.pumpAbort = undefined;
    }
  }

  private onFrame(frame: Frame): void {
    const now = this.clock.now();
    this.lastFrameAt = now;
    this.frameTimes.push(now);
    this.slot.publish(frame);
    if (this.state === 'starting' || this.state === 'down') {
      this.setState('good', this.state === 'starting' ? 'first frame' : 'frames flowing again');
    }
    this.evaluate(now);
  }

  private scheduleCheck(): void {
    const every = Math.max(10, Math.min(1_000, this.timeoutMs / 4));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.closing.signal.aborted) return;
      this.check();
      this.scheduleCheck();
    }, every);
  }

  /** The stall check: a source running with no frame for the timeout is aborted, and so restarted. */
  private check(): void {
    const now = this.clock.now();
    const pump = this.pumpAbort;
    const since = Math.max(this.lastFrameAt ?? 0, this.attemptStartedAt);
    if (pump && now - since > this.timeoutMs) {
      this.stalls.push(now);
      pump.abort(new AgentError(ErrorCodes.CAMERA_TIMEOUT, `no frame for ${this.timeoutMs} ms`));
      return;
    }
    this.evaluate(now);
  }

  private evaluate(now: number): void {
    if (this.state !== 'good' && this.state !== 'degraded') return;
    this.prune(now);
    const q = connectionQuality({
      lastFrameAgeMs: now - (this.lastFrameAt ?? now),
      outagesLastHour: this.outages.length,
      fps: this.fps(),
      expectedFps: this.opts.expectedFps,
      staleAfterMs: Math.min(DEGRADED_FRAME_AGE_MS, this.timeoutMs / 4),
    });
    this.setState(q.state, q.reason);
  }

  private setState(state: ConnectionState, reason: string): void {
    if (state === this.state) return;
    this.state = state;
    this.reason = reason;
    if (state === 'down') this.outages.push(this.clock.now());
    try {
      this.opts.onStateChange?.(state, reason);
    } catch (err) {
      this.opts.log.error({ err }, 'camera state listener failed');
    }
  }

  private fps(): number {
    const now = this.clock.now();
    this.frameTimes = this.frameTimes.filter((t) => now - t <= FPS_WINDOW_MS);
    const first = this.frameTimes[0];
    // measured up to now, not to the last frame: a stream that is slowing down reads slower at once
    if (first === undefined || now === first) return 0;
    return ((this.frameTimes.length - 1) * 1000) / (now - first);
  }

  private prune(now: number): void {
    const fresh = (t: number) => now - t <= HOUR_MS;
    this.restarts = this.restarts.filter(fresh);
    this.stalls = this.stalls.filter(fresh);
    this.outages = this.outages.filter(fresh);
  }

  private async closeQuietly(source: WatchableSource | undefined): Promise<void> {
    if (!source) return;
    try {
      await withTimeout(source.close(), SOURCE_CLOSE_TIMEOUT_MS, () =>
        agentError('SHUTDOWN_TIMEOUT', { part: 'camera source', ms: SOURCE_CLOSE_TIMEOUT_MS }),
      );
    } catch (err) {
      this.opts.log.warn({ err }, 'closing the camera source failed');
    }
  }
}
