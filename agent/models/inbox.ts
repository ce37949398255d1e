import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import type { Clock, Service, TimerHandle } from '../service.js';

/** Fingerprint of a folder's files (names, sizes, mtimes): equal twice in a row = the copy has finished. */
function fingerprint(dir: string): string {
  const parts: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, `${prefix}${e.name}/`);
      else {
        const s = statSync(p);
        parts.push(`${prefix}${e.name}:${s.size}:${s.mtimeMs}`);
      }
    }
  };
  walk(dir, '');
  return parts.join('|');
}

/**
 * A watched folder per model: a new version folder dropped into it is installed (into shadow) once its
 * contents stop changing for one scan, then moved to `.done/` or, refused, to `.failed/` with `ERROR.txt`
 * saying why. Nothing is installed twice; a half-copied folder is never read.
 */
export class ModelInbox implements Service {
  readonly name: string;
  private readonly seen = new Map<string, string>();
  private timer: TimerHandle | undefined;
  private scanning: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly dir: string,
    private readonly pollMs: number,
    private readonly install: (folder: string) => Promise<unknown>,
    private readonly deps: { clock: Clock; log: Logger },
  ) {
    this.name = `inbox:${dir}`;
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    // an install under way finishes before the models stop (they stop after the inbox), so none starts
    // workers that nothing stops
    await this.scanning;
  }

  /** One scan (also called by tests); a scan already running is the one waited for. */
  scan(): Promise<void> {
    if (!this.scanning) {
      this.scanning = this.scanOnce().finally(() => {
        this.scanning = undefined;
      });
    }
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    try {
      const entries = readdirSync(this.dir, { withFileTypes: true }).filter(
        (e) => e.isDirectory() && !e.name.startsWith('.'),
      );
      for (const e of entries) {
        if (this.stopped) return; // stopping: the rest waits for the next start
        const folder = join(this.dir, e.name);
        const print = fingerprint(folder);
        if (this.seen.get(e.name) !== print) {
          this.seen.set(e.name, print); // new or still changing: look again next scan
          continue;
        }
        this.seen.delete(e.name);
        await this.take(e.name, folder);
      }
    } catch (err) {
      this.deps.log.warn({ err, dir: this.dir }, 'model inbox scan failed');
    }
  }

  private async take(name: string, folder: string): Promise<void> {
    const stamp = new Date(this.deps.clock.now()).toISOString().replace(/[:.]/g, '-');
    try {
      await this.install(folder);
      this.moveTo('.done', name, stamp);
      this.deps.log.info({ folder }, 'model version from the inbox installed');
    } catch (err) {
      const target = this.moveTo('.failed', name, stamp);
      writeFileSync(join(target, 'ERROR.txt'), `${describeError(err)}\n`);
      this.deps.log.error({ err, folder }, 'model version from the inbox refused');
    }
  }

  private moveTo(sub: string, name: string, stamp: string): string {
    const parent = join(this.dir, sub);
    mkdirSync(parent, { recursive: true });
    let target = join(parent, `${name}-${stamp}`);
    if (existsSync(target)) target = `${target}-${Math.random().toString(36).slice(2, 8)}`;
    renameSync(join(this.dir, name), target);
    return target;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimeout(() => {
      void this.scan().finally(() => this.schedule());
    }, this.pollMs);
  }
}
