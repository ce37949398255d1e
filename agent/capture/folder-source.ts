import { constants, type Dirent } from 'node:fs';
import { type FileHandle, lstat, open, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Logger } from 'pino';
import { FOLDER_MAX_FILE_MB } from '../config/index.js';
import { describeError } from '../errors.js';
import { type Clock, sleep, systemClock } from '../service.js';
import type { Frame, FrameSource, SkippedFiles } from './frame.js';
import { DECODABLE_FORMATS, encodedFrameProblem, hasImageEnd, sniffImage } from './image-check.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.gif']);

/** Opened without following a link, and without blocking on a FIFO swapped in after the listing. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The first bytes of every format decoded: a shorter file that starts like one may still become one. */
const SIGNATURES = [
  Buffer.from([0xff, 0xd8, 0xff]),
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.from('II*\0', 'latin1'),
  Buffer.from('MM\0*', 'latin1'),
];
const HEAD_BYTES = 32;
const TAIL_BYTES = 32;
const MIB = 1024 * 1024;

export interface FolderSourceOptions {
  /** A file is taken once its size and mtime held still this long (0: across two scans). */
  settleMs?: number;
  /**
   * A JPEG or PNG still without its end marker, or a file still empty, waits this long unchanged before it
   * is judged as it is (ERROR, with the reason); 0: files are not checked for their end, empty files wait.
   */
  incompleteMs?: number;
  /** A larger file is never read: the part is ERROR, "over the limit". */
  maxBytes?: number;
  log?: Logger;
}

interface Seen {
  size: number;
  mtimeMs: number;
}

interface FileInfo extends Seen {
  name: string;
}

interface Candidate extends Seen {
  /** When this size and mtime were first seen. */
  since: number;
  /** When a file of this name was first seen, whatever its size since. */
  firstSeen: number;
}

type ReadResult = { data: Buffer; problem: string | undefined } | 'changed';

/** Oldest first, by mtime, then by name (what a camera writing `0001.jpg`, `0002.jpg`, ... means). */
function byAge(a: FileInfo, b: FileInfo): number {
  return a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name);
}

/** A file's identity for "already judged": a camera reusing a name for a new picture is a new frame. */
function fileRef(f: FileInfo): string {
  return `file:${f.name}|${f.size}|${Math.round(f.mtimeMs)}`;
}

/**
 * Image files in a folder, as a smart camera's FTP upload drops them, each judged once, oldest first. A file
 * is taken only when it is done: its size and mtime held still for `settleMs` and, for JPEG and PNG, its end
 * marker is there (a half-written upload that pauses has none), or it stayed unfinished for `incompleteMs`
 * (then it is judged ERROR with the reason, never dropped); files written after an unfinished one wait for
 * it, so parts are judged in the order they were written. A file is known by name, size and mtime, so a
 * picture written again under the same name is judged again; after a restart the store says which were.
 * Only regular files are read, never followed or blocked on: symlinks, FIFOs and devices are reported
 * (`skipped()`, a log line each) and left alone. A file that is not a JPEG, PNG or TIFF, or is larger than
 * `maxBytes`, becomes a frame with a `problem` (an ERROR decision), never a decoder's input.
 * With `loop`, the folder is a sample set replayed forever (the demo).
 */
export class FolderSource implements FrameSource {
  readonly kind = 'folder';
  private readonly pending: FileInfo[] = [];
  /** References of the files taken, for files still in the folder (forgotten when a file goes). */
  private readonly taken = new Set<string>();
  private candidates = new Map<string, Candidate>();
  private loopList: FileInfo[] = [];
  private loopIndex = 0;
  private skippedNow = new Map<string, string>();
  private readonly settleMs: number;
  private readonly incompleteMs: number;
  private readonly maxBytes: number;

  constructor(
    private readonly dir: string,
    private readonly loop: boolean,
    private readonly pollMs: number,
    private readonly clock: Clock = systemClock,
    private readonly alreadyDecided: (ref: string) => boolean = () => false,
    private readonly options: FolderSourceOptions = {},
  ) {
    this.settleMs = options.settleMs ?? 0;
    this.incompleteMs = options.incompleteMs ?? 0;
    this.maxBytes = options.maxBytes ?? FOLDER_MAX_FILE_MB * MIB;
  }

  private queue: Promise<unknown> = Promise.resolve();

  /** Calls are served one at a time, so two triggers at once never get the same file. */
  next(signal: AbortSignal): Promise<Frame> {
    const turn = this.queue.then(() => this.take(signal));
    this.queue = turn.catch(() => {});
    return turn;
  }

  skipped(): SkippedFiles {
    const last = [...this.skippedNow].at(-1);
    return { count: this.skippedNow.size, last: last ? `${last[0]}: ${last[1]}` : null };
  }

  private async take(signal: AbortSignal): Promise<Frame> {
    for (;;) {
      signal.throwIfAborted();
      const file = this.loop ? await this.nextLooped() : await this.nextNew();
      if (file) {
        const read = await this.read(file);
        // changed since it was listed (written again, removed): it settles again under its new identity
        if (read === 'changed') continue;
        // a replayed sample set is judged again each round on purpose: no ref
        const ref = this.loop ? undefined : fileRef(file);
        return {
          kind: 'encoded',
          data: read.data,
          capturedAt: this.clock.now(),
          name: file.name,
          ...(ref ? { ref } : {}),
          ...(read.problem ? { problem: `${file.name}: ${read.problem}` } : {}),
        };
      }
      await sleep(this.pollMs, signal, this.clock);
    }
  }

  async close(): Promise<void> {}

  private async nextLooped(): Promise<FileInfo | undefined> {
    if (this.loopIndex >= this.loopList.length) {
      this.loopList = (await this.list()).files;
      this.loopIndex = 0;
    }
    return this.loopList[this.loopIndex++];
  }

  private async nextNew(): Promise<FileInfo | undefined> {
    if (this.pending.length === 0) await this.scan();
    const file = this.pending.shift();
    if (file) this.taken.add(fileRef(file));
    return file;
  }

  private async scan(): Promise<void> {
    const { files, odd } = await this.list();
    const now = this.clock.now();
    const next = new Map<string, Candidate>();
    const ready: FileInfo[] = [];
    const unfinished: FileInfo[] = [];
    const present = new Set<string>();
    for (const f of files) {
      const ref = fileRef(f);
      present.add(ref);
      if (this.taken.has(ref)) continue;
      if (this.alreadyDecided(ref)) {
        // judged before a restart: its decision is stored, do not inspect it again
        this.taken.add(ref);
        continue;
      }
      const before = this.candidates.get(f.name);
      const changed = !before || before.size !== f.size || before.mtimeMs !== f.mtimeMs;
      const c: Candidate = changed
        ? { size: f.size, mtimeMs: f.mtimeMs, since: now, firstSeen: before?.firstSeen ?? now }
        : before;
      next.set(f.name, c);
      const still = now - c.since;
      const done = changed || still < this.settleMs ? undefined : await this.finished(f, still);
      if (done === true) {
        ready.push(f);
        continue;
      }
      if (done) odd.set(f.name, done);
      // still being written, or waiting for its end: it holds back files written after it, for a while
      if (this.incompleteMs > 0 && now - c.firstSeen < this.incompleteMs + this.settleMs) unfinished.push(f);
    }
    // a file that left the folder (or was written again) is forgotten: the set stays the folder's size
    for (const ref of this.taken) if (!present.has(ref)) this.taken.delete(ref);
    this.candidates = next;
    this.noteSkipped(odd);
    // files are judged in the order they were written: one still waiting for the rest of its upload holds
    // back those written after it (for incompleteMs at most), so a camera's parts are never judged out of
    // order (a folder camera's decisions are matched to parts by their order)
    ready.sort(byAge);
    const oldestUnfinished = unfinished.sort(byAge)[0];
    this.pending.push(...(oldestUnfinished ? ready.filter((f) => byAge(f, oldestUnfinished) < 0) : ready));
  }

  /**
   * Whether a settled file is ready to be judged: true, or why it waits (shown in `skipped()`). An empty
   * file waits for content; with `incompleteMs`, a JPEG or PNG waits for its end marker; either is judged
   * as it is once it stayed so for `incompleteMs`.
   */
  private async finished(f: FileInfo, still: number): Promise<true | string | undefined> {
    if (this.incompleteMs > 0 && still >= this.incompleteMs) return true;
    if (f.size === 0) return 'empty (0 bytes): waiting for its content';
    if (this.incompleteMs === 0) return true;
    const edges = await this.peek(f);
    if (!edges) return undefined; // gone or changed meanwhile: the next scan sees it again
    const info = sniffImage(edges.head);
    if (!info) {
      // a few bytes that start like an image may still become one; anything else never will: judge it now
      const maybe = SIGNATURES.some(
        (s) => edges.head.length < s.length && s.subarray(0, edges.head.length).equals(edges.head),
      );
      return maybe ? undefined : true;
    }
    if (hasImageEnd(edges.tail, info)) return true;
    return `a ${info.format.toUpperCase()} without its end yet: waiting for the rest of the upload`;
  }

  /** The first and last bytes of a regular file, read without following links or blocking. */
  private async peek(f: FileInfo): Promise<{ head: Buffer; tail: Buffer } | undefined> {
    const fh = await this.openFile(f.name);
    if (!fh) return undefined;
    try {
      const head = Buffer.alloc(Math.min(HEAD_BYTES, f.size));
      const tail = Buffer.alloc(Math.min(TAIL_BYTES, f.size));
      const h = await fh.read(head, 0, head.length, 0);
      const t = await fh.read(tail, 0, tail.length, Math.max(0, f.size - tail.length));
      return { head: head.subarray(0, h.bytesRead), tail: tail.subarray(0, t.bytesRead) };
    } catch {
      return undefined; // unreadable now (removed, permissions changing): tried again on the next scan
    } finally {
      await fh.close();
    }
  }

  private async openFile(name: string): Promise<FileHandle | undefined> {
    try {
      return await open(join(this.dir, name), OPEN_FLAGS);
    } catch {
      return undefined;
    }
  }

  /** The whole file, read with a limit, as listed; 'changed' when it is not what was listed any more. */
  private async read(file: FileInfo): Promise<ReadResult> {
    let fh: FileHandle;
    try {
      fh = await open(join(this.dir, file.name), OPEN_FLAGS);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return 'changed';
      if (code === 'ELOOP') return { data: Buffer.alloc(0), problem: 'a symbolic link: not followed' };
      return { data: Buffer.alloc(0), problem: `cannot be read: ${describeError(err)}` };
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) return { data: Buffer.alloc(0), problem: 'not a regular file: not read' };
      if (st.size !== file.size || st.mtimeMs !== file.mtimeMs) return 'changed';
      if (st.size > this.maxBytes) {
        const problem = `file of ${size(st.size)} is over the ${size(this.maxBytes)} limit (source.maxFileMB): not read`;
        return { data: Buffer.alloc(0), problem };
      }
      const data = Buffer.alloc(st.size);
      let at = 0;
      while (at < data.length) {
        const { bytesRead } = await fh.read(data, at, data.length - at, at);
        if (bytesRead === 0) return 'changed'; // shorter than listed: being rewritten
        at += bytesRead;
      }
      const problem = st.size === 0 ? 'empty file (0 bytes)' : encodedFrameProblem(data, DECODABLE_FORMATS);
      return { data, problem };
    } catch (err) {
      return { data: Buffer.alloc(0), problem: `cannot be read: ${describeError(err)}` };
    } finally {
      await fh.close();
    }
  }

  /** Regular image files by name, and the image-named entries that are not regular files (with why). */
  private async list(): Promise<{ files: FileInfo[]; odd: Map<string, string> }> {
    const entries = await readdir(this.dir, { withFileTypes: true });
    const odd = new Map<string, string>();
    const regular: Dirent[] = [];
    for (const e of entries) {
      if (!IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) continue;
      if (e.isFile()) regular.push(e);
      else odd.set(e.name, whyNotRead(e));
    }
    const out = await Promise.all(
      regular.map(async (e) => {
        try {
          const s = await lstat(join(this.dir, e.name));
          return s.isFile() ? { name: e.name, size: s.size, mtimeMs: s.mtimeMs } : undefined;
        } catch {
          return undefined; // removed between readdir and stat: nothing to take
        }
      }),
    );
    const files = out
      .filter((f): f is NonNullable<typeof f> => f !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
    if (this.loop) this.noteSkipped(odd);
    return { files, odd };
  }

  /** Logs each entry newly found unreadable (once per name and reason); `skipped()` reads the current set. */
  private noteSkipped(odd: Map<string, string>): void {
    for (const [name, why] of odd) {
      if (this.skippedNow.get(name) !== why) {
        this.options.log?.warn({ file: name, why }, `folder entry not judged: ${name} is ${why}`);
      }
    }
    this.skippedNow = odd;
  }
}

/** `31.4 KiB`, `64.0 MiB`. */
function size(bytes: number): string {
  return bytes >= MIB ? `${(bytes / MIB).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function whyNotRead(e: Dirent): string {
  if (e.isSymbolicLink())
    return 'a symbolic link: folder cameras read regular files only and never follow links';
  if (e.isFIFO()) return 'a named pipe (FIFO): never opened';
  if (e.isSocket()) return 'a socket: never opened';
  if (e.isCharacterDevice() || e.isBlockDevice()) return 'a device: never opened';
  if (e.isDirectory()) return 'a folder: folder cameras do not descend into folders';
  return 'not a regular file: never opened';
}
