import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { FFMPEG_PATH } from '../config/index.js';
import { AgentError, ErrorCodes } from '../errors.js';
import { redactUrlsIn } from '../redact.js';
import { type Clock, systemClock } from '../service.js';
import {
  type FfmpegInput,
  ffmpegArgs,
  type OutputSize,
  type OutputStream,
  OutputStreamProbe,
  RawFrameAssembler,
} from './ffmpeg-pipe.js';
import type { Frame, FrameCounters } from './frame.js';
import { redactUrl } from './http-auth.js';
import { NewestFrameSlot } from './newest-frame.js';
import { RateLimitedLog } from './rate-limited-log.js';
import type { WatchableSource } from './watchdog.js';

export type { FfmpegInput, OutputSize } from './ffmpeg-pipe.js';

export interface FfmpegSourceOptions {
  input: FfmpegInput;
  /** The ffmpeg binary; default `ffmpeg` from PATH. */
  ffmpegPath?: string;
  /** Scale every frame to this size in ffmpeg (cheaper there than in sharp, and it caps memory). */
  scale?: OutputSize;
  /** Frames above this many pixels are refused; default MAX_RAW_FRAME_PIXELS. */
  maxFramePixels?: number;
  /** After SIGTERM, how long ffmpeg gets to exit before SIGKILL. */
  killGraceMs?: number;
  log: Logger;
  clock?: Clock;
}

/**
 * DCI 4K. An rgb24 frame this size is 26 MB and the pipe holds two (one filling, one handed on); beyond it
 * memory on an edge box goes fast and nothing downstream needs the pixels (models take 224-1280 px). An 8K
 * camera is refused with an error that says to set `scale`.
 */
export const MAX_RAW_FRAME_PIXELS = 4096 * 2160;
export const KILL_GRACE_MS = 2_000;
/** stderr lines kept for the watchdog's restart log: enough for the error and the stream info before it. */
export const STDERR_LINES = 20;
/** A single stderr line longer than this is cut: a runaway line cannot grow the ring. */
const MAX_LINE_CHARS = 500;

export interface FfmpegCounters extends FrameCounters {
  /** Refused streams, truncated frames, ffmpeg failures. */
  errors: number;
}

/**
 * A camera decoded by an ffmpeg child process: RTSP, V4L2 (or a lavfi/file stream) to raw rgb24 frames on
 * its stdout. The frame size is probed from ffmpeg's own `Output #0` stream line (it already reflects
 * `scale`), before any stdout byte is cut into frames; so it is never configured twice and cannot disagree
 * with what ffmpeg writes. Newest frame wins (see NewestFrameSlot). The child's exit ends the source:
 * next() rejects from then on, with ffmpeg's last stderr line; WatchedSource starts a new one, with backoff.
 */
export class FfmpegSource implements WatchableSource {
  readonly kind: string;
  private readonly slot = new NewestFrameSlot();
  private readonly stderrRing: string[] = [];
  private readonly problems: RateLimitedLog;
  private readonly clock: Clock;
  private readonly log: Logger;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private assembler: RawFrameAssembler | undefined;
  private stream: OutputStream | undefined;
  private probe: OutputStreamProbe | undefined;
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private errors = 0;
  private sequence = 0;

  constructor(private readonly opts: FfmpegSourceOptions) {
    this.kind = opts.input.type;
    this.clock = opts.clock ?? systemClock;
    const where = opts.input.type === 'rtsp' ? redactUrl(opts.input.url) : undefined;
    this.log = where ? opts.log.child({ url: where }) : opts.log;
    this.problems = new RateLimitedLog(this.log, undefined, this.clock);
  }

  get counters(): FfmpegCounters {
    return { ...this.slot.counters, errors: this.errors };
  }

  /** The child's pid while it runs (tests check it is gone after close). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The probed output: known once ffmpeg has opened the stream. */
  get frameSize(): OutputStream | undefined {
    return this.stream;
  }

  recentDiagnostics(): string[] {
    return [...this.stderrRing];
  }

  /** Starts ffmpeg (once); frames flow from then on, whether or not anyone asks. */
  open(): void {
    if (this.child || this.slot.ended) return;
    const bin = this.opts.ffmpegPath ?? FFMPEG_PATH;
    const child = spawn(bin, ffmpegArgs(this.opts.input, this.opts.scale), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    // resolves on 'close' (exit and both pipes drained) or on a failed spawn, which never closes
    this.exited = new Promise<void>((resolve) => {
      child.once('close', (code, signal) => {
        this.onExit(code, signal);
        resolve();
      });
      child.once('error', (err) => {
        const message = `cannot run ffmpeg at ${bin}: ${err.message}`;
        this.fail('spawn', message);
        if (child.pid === undefined) resolve();
      });
    });
    child.stdout?.on('data', (chunk: Buffer) => this.onStdout(chunk));
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      const lines = (partial + text).split(/\r?\n|\r/);
      partial = (lines.pop() ?? '').slice(-MAX_LINE_CHARS);
      for (const line of lines) if (line.trim()) this.onStderrLine(line.slice(0, MAX_LINE_CHARS));
    });
    child.stderr?.on('end', () => {
      if (partial.trim()) this.onStderrLine(partial);
    });
  }

  next(signal: AbortSignal): Promise<Frame> {
    this.open();
    return this.slot.wait(signal);
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once the child is reaped (no zombie left). */
  async close(): Promise<void> {
    this.slot.end(new AgentError(ErrorCodes.CAMERA_SOURCE, 'source closed'));
    await this.stopChild();
  }

  private async stopChild(): Promise<void> {
    const child = this.child;
    if (!child || !this.exited) return;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
      child.kill('SIGTERM');
    const timer = this.clock.setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, this.opts.killGraceMs ?? KILL_GRACE_MS);
    try {
      await this.exited;
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  private onStderrLine(raw: string): void {
    // ffmpeg repeats the input URL in its errors: user info and secrets in its query must not reach a log
    // line, the status or an alert
    const line = redactUrlsIn(raw);
    this.stderrRing.push(line);
    if (this.stderrRing.length > STDERR_LINES) this.stderrRing.shift();
    if (this.stream) return;
    this.probe ??= new OutputStreamProbe();
    const found = this.probe.line(line);
    if (found) this.onStreamKnown(found);
  }

  private onStreamKnown(found: OutputStream): void {
    this.stream = found;
    const max = this.opts.maxFramePixels ?? MAX_RAW_FRAME_PIXELS;
    if (found.pixelFormat !== 'rgb24') {
      this.fail('pixel-format', `ffmpeg writes ${found.pixelFormat}, expected rgb24`);
      return;
    }
    if (found.width * found.height > max) {
      const size = `${found.width}x${found.height}`;
      this.fail('too-large', `stream of ${size} is over the ${max} pixel limit: set scale to a smaller size`);
      return;
    }
    this.assembler = new RawFrameAssembler(found.width * found.height * 3);
    const early = this.early;
    this.early = [];
    for (const chunk of early) this.onStdout(chunk);
  }

  private onStdout(chunk: Buffer): void {
    if (this.slot.ended) return; // closing or failed: keep the pipe drained so ffmpeg can exit
    const assembler = this.assembler;
    if (!assembler) {
      // bytes before the size is known: held (ffmpeg prints the stream line first, so this is rare)
      this.early.push(chunk);
      this.earlyBytes += chunk.length;
      if (this.earlyBytes > 3 * MAX_RAW_FRAME_PIXELS * 2) {
        this.fail('no-size', 'ffmpeg wrote frames but never said their size');
      }
      return;
    }
    const { width, height } = this.stream as OutputStream;
    assembler.push(chunk, (data) =>
      this.slot.publish({
        kind: 'raw',
        data,
        width,
        height,
        channels: 3,
        capturedAt: this.clock.now(),
        name: `${this.kind}-${++this.sequence}`,
      }),
    );
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    const partial = this.assembler?.partialBytes ?? 0;
    if (partial > 0 && !this.slot.ended) {
      const of = this.assembler?.frameBytes ?? 0;
      this.problem('truncated', `truncated frame at exit: ${partial} of ${of} bytes, dropped`);
    }
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const last = this.stderrRing.at(-1) ?? '(no output)';
    this.fail('exit', `ffmpeg exited (${how}): ${last}`);
  }

  /** Ends the source with a coded error (first cause wins), logs it rate-limited, and stops the child. */
  private fail(key: string, message: string): void {
    if (this.slot.ended) return;
    this.problem(key, message);
    this.slot.end(new AgentError(ErrorCodes.CAMERA_SOURCE, message));
    this.early = [];
    void this.stopChild();
  }

  private problem(key: string, message: string): void {
    this.errors++;
    this.problems.warn(key, { stderr: this.recentDiagnostics().slice(-5) }, message);
  }
}
