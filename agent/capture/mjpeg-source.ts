import type { Logger } from 'pino';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { Clock } from '../service.js';
import type { Frame, FrameCounters } from './frame.js';
import { fetchWithAuth, type HttpCameraEndpoint, httpCameraEndpoint } from './http-auth.js';
import { encodedFrameProblem } from './image-check.js';
import { MultipartReader } from './multipart-reader.js';
import { NewestFrameSlot } from './newest-frame.js';
import type { WatchableSource } from './watchdog.js';

export interface MjpegOptions {
  /** e.g. `http://10.0.0.5/mjpg/video.mjpg`; user info in the URL is taken as the credentials. */
  url: string;
  username?: string;
  password?: string;
  /** Response headers must arrive within this; a stall after that is the watchdog's to notice. */
  connectTimeoutMs?: number;
  /** A part over this many bytes is refused and skipped, so a broken stream cannot grow a buffer forever. */
  maxPartBytes?: number;
  log: Logger;
  clock?: Clock;
}

export const MJPEG_CONNECT_TIMEOUT_MS = 10_000;
/** Far above any JPEG a camera streams (a 4K frame is ~1-2 MB); below it, a broken stream cannot fill memory. */
export const MAX_MJPEG_PART_BYTES = 20 * 1024 * 1024;
/** Problems kept for the watchdog's restart log line. */
const DIAGNOSTIC_LINES = 20;

export interface MjpegCounters extends FrameCounters {
  /** Parts refused (not a JPEG, truncated, too large) and connection failures. */
  errors: number;
}

/**
 * An HTTP `multipart/x-mixed-replace` JPEG stream (the "MJPEG" URL of most IP cameras), read on one
 * long-lived request. Parts are cut by Content-Length when the camera sends it, else by the boundary. Newest
 * frame wins (see NewestFrameSlot). A bad part is counted and skipped; the end of the connection ends the
 * source (next() rejects from then on): WatchedSource opens a new one, with backoff.
 */
export class MjpegSource implements WatchableSource {
  readonly kind = 'mjpeg';
  private readonly slot = new NewestFrameSlot();
  private readonly diagnostics: string[] = [];
  private readonly abort = new AbortController();
  private errors = 0;
  private sequence = 0;
  private running: Promise<void> | undefined;

  private readonly endpoint: HttpCameraEndpoint;

  constructor(private readonly opts: MjpegOptions) {
    this.endpoint = httpCameraEndpoint(opts);
  }

  get counters(): MjpegCounters {
    return { ...this.slot.counters, errors: this.errors };
  }

  /** Connects (once); frames flow from then on, whether or not anyone asks. */
  open(): void {
    this.running ??= this.run();
  }

  next(signal: AbortSignal): Promise<Frame> {
    this.open();
    return this.slot.wait(signal);
  }

  async close(): Promise<void> {
    this.abort.abort(new AgentError(ErrorCodes.CAMERA_SOURCE, 'source closed'));
    this.slot.end(new AgentError(ErrorCodes.CAMERA_SOURCE, 'source closed'));
    await this.running;
  }

  recentDiagnostics(): string[] {
    return [...this.diagnostics];
  }

  private async run(): Promise<void> {
    let ended: Error | undefined;
    try {
      const reader = await this.connect();
      for await (const chunk of reader.body) {
        reader.parser.push(chunk);
      }
      throw new AgentError(ErrorCodes.CAMERA_SOURCE, `MJPEG stream from ${this.endpoint.safeUrl} ended`);
    } catch (err) {
      ended = this.abort.signal.aborted
        ? new AgentError(ErrorCodes.CAMERA_SOURCE, 'source closed')
        : err instanceof AgentError
          ? err
          : new AgentError(
              ErrorCodes.CAMERA_SOURCE,
              `MJPEG stream from ${this.endpoint.safeUrl} failed: ${why(err)}`,
              {
                cause: err,
              },
            );
      if (!this.abort.signal.aborted) this.problem('stream', ended.message);
    } finally {
      this.abort.abort(ended); // releases the connection on every path out
      this.slot.end(ended ?? new AgentError(ErrorCodes.CAMERA_SOURCE, 'source closed'));
    }
  }

  private async connect(): Promise<{ body: AsyncIterable<Uint8Array>; parser: MultipartReader }> {
    const timeoutMs = this.opts.connectTimeoutMs ?? MJPEG_CONNECT_TIMEOUT_MS;
    const timer = this.endpoint.clock.setTimeout(
      () => this.abort.abort(new AgentError(ErrorCodes.CAMERA_TIMEOUT, `no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    let res: Response;
    try {
      res = await fetchWithAuth(this.endpoint.url, this.endpoint.auth, this.abort.signal);
    } catch (err) {
      const reason: unknown = this.abort.signal.reason;
      if (reason instanceof AgentError && reason.code === ErrorCodes.CAMERA_TIMEOUT) {
        throw new AgentError(ErrorCodes.CAMERA_TIMEOUT, `${this.endpoint.safeUrl}: ${reason.message}`);
      }
      throw new AgentError(
        ErrorCodes.CAMERA_SOURCE,
        `camera unreachable at ${this.endpoint.safeUrl} (${why(err)})`,
        {
          cause: err,
        },
      );
    } finally {
      this.endpoint.clock.clearTimeout(timer);
    }
    const fail = async (message: string): Promise<never> => {
      await res.body?.cancel();
      throw new AgentError(ErrorCodes.CAMERA_SOURCE, message);
    };
    if (res.status === 401) return fail(`${this.endpoint.safeUrl} refused the credentials (HTTP 401)`);
    if (res.status !== 200)
      return fail(`${this.endpoint.safeUrl} answered HTTP ${res.status} ${res.statusText}`);
    const type = res.headers.get('content-type') ?? '(none)';
    if (!/^multipart\//i.test(type)) {
      const hint = /^image\//i.test(type)
        ? ': this URL serves single images, use the http snapshot source'
        : '';
      return fail(`expected multipart/x-mixed-replace from ${this.endpoint.safeUrl}, got ${type}${hint}`);
    }
    if (!res.body) return fail(`${this.endpoint.safeUrl} sent no body`);
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1]?.trim();
    const parser = new MultipartReader({
      boundary,
      maxPartBytes: this.opts.maxPartBytes ?? MAX_MJPEG_PART_BYTES,
      onPart: (data, contentType) => this.onPart(data, contentType),
      onProblem: (key, message) => this.problem(key, message),
    });
    return { body: res.body as unknown as AsyncIterable<Uint8Array>, parser };
  }

  private onPart(data: Buffer, contentType: string | undefined): void {
    if (contentType && !/^image\/jpe?g/i.test(contentType)) {
      this.problem('part-type', `part is ${contentType}, not image/jpeg (${data.length} bytes): skipped`);
      return;
    }
    const problem = encodedFrameProblem(data, ['jpeg']);
    if (problem) {
      this.problem('bad-part', `${problem}: skipped`);
      return;
    }
    this.slot.publish({
      kind: 'encoded',
      data: Buffer.from(data), // a copy: the part is a view into the read buffer
      capturedAt: this.endpoint.clock.now(),
      name: `mjpeg-${++this.sequence}`,
    });
  }

  private problem(key: string, message: string): void {
    this.errors++;
    this.diagnostics.push(message);
    if (this.diagnostics.length > DIAGNOSTIC_LINES) this.diagnostics.shift();
    this.endpoint.problems.warn(key, { url: this.endpoint.safeUrl }, message);
  }
}

function why(err: unknown): string {
  const code = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' ? code : describeError(err);
}
