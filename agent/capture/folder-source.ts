import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { type Clock, sleep, systemClock } from '../service.js';
import type { Frame, FrameSource } from './frame.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.gif']);

interface Seen {
  size: number;
  mtimeMs: number;
}

interface FileInfo extends Seen {
  name: string;
}

/** A file's identity for "already judged": a camera reusing a name for a new picture is a new frame. */
function fileRef(f: FileInfo): string {
  return `file:${f.name}|${f.size}|${Math.round(f.mtimeMs)}`;
}

/**
 * Image files in a folder, as a smart camera's FTP upload drops them. Each new file is taken once, oldest
 * first; a file is taken only when its size and mtime held still across two scans, so one still being
 * written is not read half-done. With `loop`, the folder is a sample set replayed forever (the demo).
 */
export class FolderSource implements FrameSource {
  readonly kind = 'folder';
  private readonly pending: FileInfo[] = [];
  private readonly taken = new Set<string>();
  private candidates = new Map<string, Seen>();
  private loopList: FileInfo[] = [];
  private loopIndex = 0;

  constructor(
    private readonly dir: string,
    private readonly loop: boolean,
    private readonly pollMs: number,
    private readonly clock: Clock = systemClock,
    private readonly alreadyDecided: (ref: string) => boolean = () => false,
  ) {}

  private queue: Promise<unknown> = Promise.resolve();

  /** Calls are served one at a time, so two triggers at once never get the same file. */
  next(signal: AbortSignal): Promise<Frame> {
    const turn = this.queue.then(() => this.take(signal));
    this.queue = turn.catch(() => {});
    return turn;
  }

  private async take(signal: AbortSignal): Promise<Frame> {
    for (;;) {
      signal.throwIfAborted();
      const file = this.loop ? await this.nextLooped() : await this.nextNew();
      if (file) {
        const data = await readFile(join(this.dir, file.name));
        // a replayed sample set is judged again each round on purpose: no ref
        const ref = this.loop ? undefined : fileRef(file);
        return {
          kind: 'encoded',
          data,
          capturedAt: this.clock.now(),
          name: file.name,
          ...(ref ? { ref } : {}),
        };
      }
      await sleep(this.pollMs, signal, this.clock);
    }
  }

  async close(): Promise<void> {}

  private async nextLooped(): Promise<FileInfo | undefined> {
    if (this.loopIndex >= this.loopList.length) {
      this.loopList = await this.listImages();
      this.loopIndex = 0;
    }
    return this.loopList[this.loopIndex++];
  }

  private async nextNew(): Promise<FileInfo | undefined> {
    if (this.pending.length === 0) await this.scan();
    const file = this.pending.shift();
    if (file) this.taken.add(file.name);
    return file;
  }

  private async scan(): Promise<void> {
    const files = await this.listImages();
    const next = new Map<string, Seen>();
    const stable: FileInfo[] = [];
    for (const f of files) {
      if (this.taken.has(f.name)) continue;
      if (this.alreadyDecided(fileRef(f))) {
        // judged before a restart: its decision is stored, do not inspect it again
        this.taken.add(f.name);
        continue;
      }
      const before = this.candidates.get(f.name);
      if (before && before.size === f.size && before.mtimeMs === f.mtimeMs && f.size > 0) {
        stable.push(f);
      } else {
        next.set(f.name, { size: f.size, mtimeMs: f.mtimeMs });
      }
    }
    this.candidates = next;
    stable.sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name));
    this.pending.push(...stable);
  }

  private async listImages(): Promise<FileInfo[]> {
    const entries = await readdir(this.dir, { withFileTypes: true });
    const files = entries.filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()));
    const out = await Promise.all(
      files.map(async (e) => {
        try {
          const s = await stat(join(this.dir, e.name));
          return { name: e.name, size: s.size, mtimeMs: s.mtimeMs };
        } catch {
          return undefined; // removed between readdir and stat: nothing to take
        }
      }),
    );
    return out
      .filter((f): f is NonNullable<typeof f> => f !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}
