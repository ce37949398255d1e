import { RTSP_TRANSPORT } from '../config/index.js';

/** What ffmpeg reads. `lavfi` and `file` are for demos, tests and benchmarks (a generated or recorded stream). */
export type FfmpegInput =
  | { type: 'rtsp'; url: string; transport?: 'tcp' | 'udp' }
  | { type: 'v4l2'; device: string; width?: number; height?: number; fps?: number; inputFormat?: string }
  | { type: 'lavfi'; graph: string; realtime?: boolean }
  | { type: 'file'; path: string; loop?: boolean; realtime?: boolean };

export interface OutputSize {
  width: number;
  height: number;
}

/**
 * Input-side flags that cut ffmpeg's startup from ~5 s to well under one: it otherwise reads 5 MB or 5 s of
 * stream to guess codec parameters that an RTSP SDP (or a V4L2 device) already states. `nobuffer` and
 * `low_delay` stop it holding decoded frames back to smooth timestamps: a trigger wants now, not smooth.
 */
export const LOW_LATENCY_INPUT = ['-fflags', 'nobuffer', '-flags', 'low_delay', '-probesize', '32768'];
/** Half a second of stream is enough to see one keyframe at the GOP sizes cameras use (1-2 s at most). */
export const ANALYZE_DURATION_US = '500000';

function inputArgs(input: FfmpegInput): string[] {
  switch (input.type) {
    case 'rtsp':
      // TCP by default (RTSP_TRANSPORT says why); UDP when asked.
      // No `-timeout`: it means "listen" in ffmpeg 4 and a socket timeout in 5+; the watchdog covers stalls.
      return [
        ...LOW_LATENCY_INPUT,
        '-analyzeduration',
        ANALYZE_DURATION_US,
        '-rtsp_transport',
        input.transport ?? RTSP_TRANSPORT,
        '-i',
        input.url,
      ];
    case 'v4l2':
      return [
        ...LOW_LATENCY_INPUT,
        '-f',
        'v4l2',
        ...(input.inputFormat ? ['-input_format', input.inputFormat] : []),
        ...(input.fps ? ['-framerate', String(input.fps)] : []),
        ...(input.width && input.height ? ['-video_size', `${input.width}x${input.height}`] : []),
        '-i',
        input.device,
      ];
    case 'lavfi':
      return [...(input.realtime === false ? [] : ['-re']), '-f', 'lavfi', '-i', input.graph];
    case 'file':
      return [
        ...(input.realtime ? ['-re'] : []),
        ...(input.loop ? ['-stream_loop', '-1'] : []),
        '-i',
        input.path,
      ];
  }
}

/**
 * The whole command line after the program name. Output: the first video stream only, optionally scaled,
 * as raw rgb24 on stdout. `-fps_mode passthrough` (ffmpeg >= 5.1; `-vsync` is gone in 9) passes frames as
 * decoded: the default constant-rate mode would duplicate frames after a hiccup, hiding a stall from the
 * watchdog and bursting stale frames at the consumer. `-nostats` keeps progress lines out of stderr, so
 * what stderr holds is what went wrong.
 */
export function ffmpegArgs(input: FfmpegInput, scale?: OutputSize): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel',
    'info', // the output stream line (frame size) is printed at info
    ...inputArgs(input),
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    ...(scale ? ['-vf', `scale=${scale.width}:${scale.height}`] : []),
    '-fps_mode',
    'passthrough',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ];
}

export interface OutputStream {
  pixelFormat: string;
  width: number;
  height: number;
}

/**
 * Reads the output stream line ffmpeg prints once it has opened input and output, before the first frame:
 * `Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24(pc, ...), 320x240 [SAR 1:1 DAR 4:3], ...`.
 * Only lines after `Output #0` count: a raw input (V4L2 YUYV, lavfi) prints a `rawvideo` line too.
 */
export class OutputStreamProbe {
  private inOutput = false;

  line(text: string): OutputStream | undefined {
    if (text.startsWith('Output #0')) this.inOutput = true;
    if (!this.inOutput) return undefined;
    const m = /Stream #\d+:\d+.*?: Video: rawvideo(?: \([^)]*\))?, (\w+)(?:\([^)]*\))?, (\d+)x(\d+)/.exec(
      text,
    );
    if (!m) return undefined;
    return { pixelFormat: m[1] ?? '', width: Number(m[2]), height: Number(m[3]) };
  }
}

/**
 * Cuts the stdout pipe (chunks of any size, unrelated to frame edges) into exact frames. A frame's buffer is
 * handed on only when complete; when nobody took the last one, its buffer is reused for the next, so a
 * stream nobody reads allocates nothing per frame.
 */
export class RawFrameAssembler {
  private current: Buffer;
  private filled = 0;

  constructor(readonly frameBytes: number) {
    this.current = Buffer.allocUnsafe(frameBytes);
  }

  /** Bytes of a frame begun but not finished: at exit, a truncated frame. */
  get partialBytes(): number {
    return this.filled;
  }

  /** `emit` returns true when it kept the buffer (someone took the frame), so a fresh one is needed. */
  push(chunk: Buffer, emit: (frame: Buffer) => boolean): void {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      chunk.copy(this.current, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameBytes) {
        this.filled = 0;
        if (emit(this.current)) this.current = Buffer.allocUnsafe(this.frameBytes);
      }
    }
  }
}
