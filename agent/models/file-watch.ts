import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { AlertSink } from '../alerts.js';
import { describeError } from '../errors.js';
import { sha256Of } from '../read-limited.js';
import type { Clock, TimerHandle } from '../service.js';

/** What the running version's file on disk looks like now, against what was loaded. */
export interface ModelFileStatus {
  path: string | null;
  /** Why the file is not the one running (changed, gone), or null when it is. */
  changed: string | null;
  checkedAt: number | null;
}

interface Seen {
  size: number;
  mtimeMs: number;
  ino: number;
}

/**
 * Watches the file the active version was loaded from. The session keeps the model it loaded, so a file
 * replaced under it changes nothing until the next load: a restart (or a worker replaced after a crash)
 * would run another model than the one verified, without anyone having installed it. A change is noticed
 * by stat (size, mtime, inode; cheap, every `everyMs`), confirmed by the file's SHA-256 (streamed, never read
 * whole), and raised as MODEL_FILE_CHANGED (warning) with a problem in /api/status, until the file is the
 * loaded one again (put back, or the agent restarted on it after a check).
 */
export class ModelFileWatch {
  private path: string | null = null;
  private sha256: string | null = null;
  private seen: Seen | undefined;
  private timer: TimerHandle | undefined;
  private checking: Promise<void> | undefined;
  private status: ModelFileStatus = { path: null, changed: null, checkedAt: null };

  constructor(
    private readonly deps: {
      modelId: string;
      everyMs: number;
      clock: Clock;
      log: Logger;
      alerts?: AlertSink | undefined;
    },
  ) {}

  /** The running version's file and hash (at load, promote, rollback); checks from here on compare with it. */
  follow(path: string | undefined, sha256: string | null): void {
    if (!path || !sha256 || (path === this.path && sha256 === this.sha256)) return;
    this.path = path;
    this.sha256 = sha256;
    this.seen = undefined; // the next check hashes once, then watches stat
    this.setChanged(null);
    this.status = { ...this.status, path };
  }

  start(): void {
    if (this.timer === undefined)
      this.timer = this.deps.clock.setInterval(() => void this.check(), this.deps.everyMs);
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
    await this.checking;
  }

  snapshot(): ModelFileStatus {
    return { ...this.status };
  }

  /** One check (the timer's, or a test's); a check still running is not started twice. `checkedAt` is set
   * when it has ended. */
  check(): Promise<void> {
    this.checking ??= this.checkNow().finally(() => {
      this.checking = undefined;
      this.status = { ...this.status, checkedAt: this.deps.clock.now() };
    });
    return this.checking;
  }

  private async checkNow(): Promise<void> {
    const { path, sha256 } = this;
    if (!path || !sha256) return;
    let now: Seen;
    try {
      const s = await stat(path);
      now = { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino };
    } catch (err) {
      this.seen = undefined;
      this.setChanged(`model file ${path} cannot be read (${describeError(err)})`);
      return;
    }
    const before = this.seen;
    if (before && before.size === now.size && before.mtimeMs === now.mtimeMs && before.ino === now.ino)
      return;
    let hash: string;
    try {
      hash = await sha256Of(path);
    } catch (err) {
      this.setChanged(`model file ${path} cannot be read (${describeError(err)})`);
      return;
    }
    if (path !== this.path) return; // followed another version meanwhile
    this.seen = now;
    this.setChanged(
      hash === sha256
        ? null
        : `model file ${path} changed on disk (sha256 ${hash.slice(0, 12)}…, running ${sha256.slice(0, 12)}…): the running version is unchanged; install the new file as a version (docs/model-updates.md) or put the old one back`,
    );
  }

  private setChanged(why: string | null): void {
    if (why === this.status.changed) return;
    this.status = { ...this.status, changed: why };
    const { modelId } = this.deps;
    this.deps.alerts?.raise({
      code: 'MODEL_FILE_CHANGED',
      severity: 'warning',
      modelId,
      message: why ?? `model ${modelId}: the file on disk is the running version's`,
      active: why !== null,
    });
  }
}
