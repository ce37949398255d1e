export interface MultipartReaderOptions {
  /** From the Content-Type header; when missing, the first `--token` line of the body is taken as it. */
  boundary: string | undefined;
  maxPartBytes: number;
  onPart(data: Buffer, contentType: string | undefined): void;
  onProblem(key: string, message: string): void;
}

/** Part headers longer than this are not headers: the stream lost its place. */
const MAX_HEADER_BYTES = 16 * 1024;

type State = 'boundary' | 'headers' | 'sized-body' | 'scanned-body';

/**
 * Cuts a `multipart/x-mixed-replace` byte stream into parts. Cameras disagree on the details, so it is
 * lenient where they differ: the boundary may or may not carry its own leading `--` in the header; a part
 * may have a Content-Length (used: cheapest and exact) or not (then the next boundary ends it); lines may
 * end in CRLF or LF. It is strict about size: a part over `maxPartBytes`, or headers over 16 KB, is
 * reported and skipped to the next boundary, so the buffer never grows past about one part.
 */
export class MultipartReader {
  private buf: Buffer = Buffer.alloc(0);
  private state: State = 'boundary';
  private token: Buffer | undefined;
  private partLength = 0;
  private partType: string | undefined;
  private scanFrom = 0;

  constructor(private readonly opts: MultipartReaderOptions) {
    const b = opts.boundary?.replace(/^--/, '');
    // the token is searched without its `--`: some cameras repeat the `--` in the header, some do not
    if (b) this.token = Buffer.from(b, 'latin1');
  }

  /** Bytes held while waiting for the rest of a part (for tests and diagnostics). */
  get buffered(): number {
    return this.buf.length;
  }

  push(chunk: Uint8Array): void {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    while (this.step()) {
      // each step consumes what it can; false means it needs more bytes
    }
  }

  private step(): boolean {
    switch (this.state) {
      case 'boundary':
        return this.findBoundary();
      case 'headers':
        return this.readHeaders();
      case 'sized-body':
        return this.readSizedBody();
      case 'scanned-body':
        return this.scanBody();
    }
  }

  private findBoundary(): boolean {
    if (!this.token) {
      const m = /(?:^|\n)--([^\r\n]{1,200})\r?\n/.exec(this.buf.toString('latin1', 0, 4096));
      if (!m?.[1]) return this.discardSearched(4096);
      this.token = Buffer.from(m[1], 'latin1');
    }
    const at = this.buf.indexOf(this.token);
    if (at === -1) return this.discardSearched(this.token.length);
    const eol = this.buf.indexOf(0x0a, at + this.token.length);
    if (eol === -1) return false;
    this.buf = this.buf.subarray(eol + 1);
    this.state = 'headers';
    this.partType = undefined;
    this.partLength = -1;
    return true;
  }

  /** Nothing useful before the boundary: drop it, keeping a tail that may hold the boundary's first bytes. */
  private discardSearched(keep: number): boolean {
    if (this.buf.length > keep) this.buf = this.buf.subarray(this.buf.length - keep);
    return false;
  }

  private readHeaders(): boolean {
    let pos = 0;
    const headers = new Map<string, string>();
    for (;;) {
      const eol = this.buf.indexOf(0x0a, pos);
      if (eol === -1) {
        if (this.buf.length > MAX_HEADER_BYTES) this.lost('headers', 'part headers over 16 KB');
        return this.buf.length > MAX_HEADER_BYTES;
      }
      const line = this.buf.toString('latin1', pos, eol).replace(/\r$/, '');
      pos = eol + 1;
      if (line === '') break;
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    this.buf = this.buf.subarray(pos);
    this.partType = headers.get('content-type');
    const length = Number(headers.get('content-length') ?? Number.NaN);
    if (Number.isInteger(length) && length >= 0) {
      if (length > this.opts.maxPartBytes) {
        this.lost('too-large', `part of ${length} bytes is over the ${this.opts.maxPartBytes} byte limit`);
        return true;
      }
      this.partLength = length;
      this.state = 'sized-body';
    } else {
      this.state = 'scanned-body';
      this.scanFrom = 0;
    }
    return true;
  }

  private readSizedBody(): boolean {
    if (this.buf.length < this.partLength) return false;
    const part = this.buf.subarray(0, this.partLength);
    this.buf = this.buf.subarray(this.partLength);
    this.state = 'boundary';
    this.opts.onPart(part, this.partType);
    return true;
  }

  private scanBody(): boolean {
    const token = this.token as Buffer;
    const at = this.buf.indexOf(token, this.scanFrom);
    if (at === -1) {
      if (this.buf.length > this.opts.maxPartBytes) {
        this.lost('too-large', `part passed the ${this.opts.maxPartBytes} byte limit without a boundary`);
        return true;
      }
      // the boundary may straddle two chunks: rescan only the tail that could hold its start
      this.scanFrom = Math.max(0, this.buf.length - token.length - 1);
      return false;
    }
    let end = at;
    if (end >= 2 && this.buf[end - 1] === 0x2d && this.buf[end - 2] === 0x2d) end -= 2;
    if (end >= 1 && this.buf[end - 1] === 0x0a) end -= 1;
    if (end >= 1 && this.buf[end - 1] === 0x0d) end -= 1;
    const part = this.buf.subarray(0, end);
    this.buf = this.buf.subarray(at);
    this.state = 'boundary';
    this.opts.onPart(part, this.partType);
    return true;
  }

  /** Reports a problem and skips to the next boundary, dropping what was held. */
  private lost(key: string, message: string): void {
    this.opts.onProblem(key, `${message}: skipped to the next boundary`);
    this.buf = this.buf.subarray(Math.max(0, this.buf.length - (this.token?.length ?? 0)));
    this.state = 'boundary';
  }
}
