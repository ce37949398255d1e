import type { Logger } from 'pino';
import { SNAPSHOT_TIMEOUT_MS } from '../config/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { Clock } from '../service.js';
import type { Frame, FrameSource } from './frame.js';
import { fetchWithAuth, type HttpCameraEndpoint, httpCameraEndpoint } from './http-auth.js';
import { encodedFrameProblem } from './image-check.js';

export interface HttpSnapshotOptions {
  /** e.g. `http://10.0.0.5/cgi-bin/snapshot.cgi`; user info in the URL is taken as the credentials. */
  url: string;
  username?: string;
  password?: string;
  /** A snapshot slower than this fails the shot with EVA_ERR_CAMERA_TIMEOUT. */
  timeoutMs?: number;
  /** A body larger than this is refused while it downloads (a camera streaming video by mistake). */
  maxBytes?: number;
  log: Logger;
  clock?: Clock;
}

/** Far above any still a camera sends (a 20 Mpx JPEG is ~10 MB); below it, a mistake cannot fill memory. */
export const MAX_SNAPSHOT_BYTES = 20 * 1024 * 1024;

/** Content types a camera may label a still with; anything else (text/html: a login page) is refused. */
const IMAGE_TYPES = /^(image\/|application\/octet-stream)/i;

export interface SnapshotCounters {
  requests: number;
  frames: number;
  errors: number;
}

/**
 * An IP camera's still-image URL: one GET per `next()`, so the frame is, by construction, taken after the
 * call. Basic and Digest (MD5, qop=auth) authentication; the connection is kept alive between shots.
 * Failures reject `next()` with a coded error (and one rate-limited log line per kind of failure): the
 * camera loop retries, nothing here retries on its own.
 */
export class HttpSnapshotSource implements FrameSource {
  readonly kind = 'http';
  readonly counters: SnapshotCounters = { requests: 0, frames: 0, errors: 0 };
  lastError: string | null = null;
  private readonly closing = new AbortController();

  private readonly endpoint: HttpCameraEndpoint;

  constructor(private readonly opts: HttpSnapshotOptions) {
    this.endpoint = httpCameraEndpoint(opts);
  }

  async next(signal: AbortSignal): Promise<Frame> {
    signal.throwIfAborted();
    if (this.closing.signal.aborted) throw new AgentError(ErrorCodes.CAMERA_SOURCE, 'source closed');
    const timeoutMs = this.opts.timeoutMs ?? SNAPSHOT_TIMEOUT_MS;
    const timeout = new AbortController();
    const timer = this.endpoint.clock.setTimeout(() => timeout.abort(), timeoutMs);
    const combined = AbortSignal.any([signal, timeout.signal, this.closing.signal]);
    this.counters.requests++;
    let answer: Buffer | SnapshotProblem;
    try {
      const res = await fetchWithAuth(this.endpoint.url, this.endpoint.auth, combined);
      answer = await this.readImage(res, combined);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const [key, failure] = timeout.signal.aborted
        ? [
            'timeout',
            new AgentError(
              ErrorCodes.CAMERA_TIMEOUT,
              `no snapshot from ${this.endpoint.safeUrl} within ${timeoutMs} ms`,
            ),
          ]
        : this.closing.signal.aborted
          ? ['closed', new AgentError(ErrorCodes.CAMERA_SOURCE, 'source closed')]
          : unreachable(err, this.endpoint.safeUrl);
      this.noteError(key, failure);
      throw failure;
    } finally {
      this.endpoint.clock.clearTimeout(timer);
    }
    if (!Buffer.isBuffer(answer)) {
      // the camera answered, but not with a usable frame: the same code as any source failure, its own log key
      const failure = new AgentError(ErrorCodes.CAMERA_SOURCE, answer.message);
      this.noteError(answer.kind, failure);
      throw failure;
    }
    this.counters.frames++;
    return { kind: 'encoded', data: answer, capturedAt: this.endpoint.clock.now() };
  }

  async close(): Promise<void> {
    this.closing.abort();
  }

  /** The image in the camera's answer, or what is wrong with the answer. */
  private async readImage(res: Response, signal: AbortSignal): Promise<Buffer | SnapshotProblem> {
    if (res.status === 401) {
      await res.body?.cancel();
      return { kind: 'auth', message: `${this.endpoint.safeUrl} refused the credentials (HTTP 401)` };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      return {
        kind: 'http-status',
        message: `${this.endpoint.safeUrl} answered HTTP ${res.status} ${res.statusText}`,
      };
    }
    const type = res.headers.get('content-type') ?? '';
    const declared = Number(res.headers.get('content-length') ?? Number.NaN);
    const max = this.opts.maxBytes ?? MAX_SNAPSHOT_BYTES;
    if (declared > max) {
      await res.body?.cancel();
      return { kind: 'too-large', message: `snapshot of ${declared} bytes is over the ${max} byte limit` };
    }
    const data = await readCapped(res, max, signal);
    if (data === undefined) return { kind: 'too-large', message: `snapshot passed the ${max} byte limit` };
    if (data.length === 0) return { kind: 'empty', message: `${this.endpoint.safeUrl} sent an empty body` };
    if (type && !IMAGE_TYPES.test(type)) {
      const start = JSON.stringify(data.subarray(0, 40).toString('latin1'));
      return { kind: 'content-type', message: `expected an image, got ${type} (starts with ${start})` };
    }
    const problem = encodedFrameProblem(data);
    if (problem) return { kind: 'bad-image', message: problem };
    return data;
  }

  private noteError(key: string, err: AgentError): void {
    this.counters.errors++;
    this.lastError = err.message;
    if (key !== 'closed')
      this.endpoint.problems.warn(key, { url: this.endpoint.safeUrl, err }, 'camera snapshot failed');
  }
}

/**
 * An answer that is not a usable frame, as this source diagnosed it: rejected as EVA_ERR_CAMERA_SOURCE with
 * `message`; `kind` groups repeats for the rate-limited log.
 */
interface SnapshotProblem {
  kind: 'auth' | 'http-status' | 'too-large' | 'empty' | 'content-type' | 'bad-image';
  message: string;
}

function unreachable(err: unknown, url: string): [string, AgentError] {
  // fetch fails with TypeError('fetch failed') and the socket's error (ECONNREFUSED, ENOTFOUND) as cause
  const code = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  const why = typeof code === 'string' ? code : describeError(err);
  return [
    'unreachable',
    new AgentError(ErrorCodes.CAMERA_SOURCE, `camera unreachable at ${url} (${why})`, { cause: err }),
  ];
}

/**
 * Reads the body, giving up as soon as it passes `max` bytes rather than after buffering it all
 * (undefined then).
 */
async function readCapped(res: Response, max: number, signal: AbortSignal): Promise<Buffer | undefined> {
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      signal.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) return undefined;
      chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    }
  } finally {
    await reader.cancel().catch(() => {}); // already finished or failed: nothing left to release
  }
  return Buffer.concat(chunks, total);
}
