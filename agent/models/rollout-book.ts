import type { Logger } from 'pino';
import type { ActiveRecord, HistoryEntry, Rejection, VersionStore, WatchRecord } from './versions.js';

/** History entries kept in active.json (the request log keeps every request besides). */
const HISTORY_KEPT = 50;
/** Rejections and known-good versions kept: a model does not have more versions than this in its life. */
const VERSIONS_KEPT = 100;

/**
 * A model's rollout record in memory, written to `active.json` (VersionStore) after every change: which
 * version is active and which one a rollback returns to, when the active one was promoted, the watch after
 * that promotion, the versions rejected (rolled back automatically, or that failed to load at start) and
 * the versions known good (they judged the line and their watch ended without a verdict against them).
 */
export class RolloutBook {
  private rec: ActiveRecord;

  constructor(
    private readonly versions: VersionStore,
    private readonly log: Logger,
    configured: string,
    now: number,
  ) {
    this.rec = { active: configured, previous: null, configured, at: now };
  }

  /**
   * Reads active.json. A record written for another agent.yaml model (its `configured` version differs)
   * loses its active, previous and watch (the operator's edit is newer than an old promotion) but keeps
   * what it knows of versions: rejections, known good ones, history. Returns the record's active version
   * to load, or undefined when the configured one is to start.
   */
  load(
    configured: string | null,
  ): { active: string; previous: string | null; watch: WatchRecord | null } | undefined {
    let read: ActiveRecord | undefined;
    try {
      read = this.versions.readActive();
    } catch (err) {
      this.log.error({ err }, 'active-version record unreadable; starting the configured version');
    }
    if (!read) return undefined;
    this.rec = {
      ...this.rec,
      rejected: read.rejected ?? {},
      knownGood: read.knownGood ?? [],
      history: read.history ?? [],
    };
    if (configured !== null && read.configured !== configured) {
      this.log.warn(
        { recorded: read.active, configured },
        'agent.yaml names a different model version than when the active version was recorded; the configured one wins',
      );
      return undefined;
    }
    this.rec = {
      ...read,
      rejected: this.rec.rejected,
      knownGood: this.rec.knownGood,
      history: this.rec.history,
    };
    return { active: read.active, previous: read.previous, watch: read.watch ?? null };
  }

  get record(): Readonly<ActiveRecord> {
    return this.rec;
  }

  get previous(): string | null {
    return this.rec.previous;
  }

  get promotedAt(): number | null {
    return this.rec.promotedAt ?? null;
  }

  rejection(version: string): Rejection | undefined {
    return this.rec.rejected?.[version];
  }

  get rejected(): Record<string, Rejection> {
    return { ...(this.rec.rejected ?? {}) };
  }

  get knownGood(): string[] {
    return [...(this.rec.knownGood ?? [])];
  }

  history(last = 10): HistoryEntry[] {
    return (this.rec.history ?? []).slice(-last);
  }

  /** The active version changed (or is recorded for the first time). */
  setActive(
    active: string,
    previous: string | null,
    at: number,
    opts: { promotedAt?: number | null; watch?: WatchRecord | null } = {},
  ): void {
    this.rec = {
      ...this.rec,
      active,
      previous,
      at,
      promotedAt: opts.promotedAt === undefined ? this.rec.promotedAt : opts.promotedAt,
      watch: opts.watch === undefined ? this.rec.watch : opts.watch,
    };
  }

  setWatch(watch: WatchRecord | null): void {
    this.rec = { ...this.rec, watch };
  }

  setPrevious(previous: string | null): void {
    this.rec = { ...this.rec, previous };
  }

  reject(version: string, rejection: Rejection): void {
    const rejected = { ...(this.rec.rejected ?? {}), [version]: rejection };
    const keys = Object.keys(rejected);
    for (const k of keys.slice(0, Math.max(0, keys.length - VERSIONS_KEPT))) delete rejected[k];
    this.rec = { ...this.rec, rejected, knownGood: (this.rec.knownGood ?? []).filter((v) => v !== version) };
  }

  /** A rejected version promoted with `force`: a person vouches for it again. */
  unreject(version: string): void {
    if (!this.rec.rejected?.[version]) return;
    const { [version]: _gone, ...rest } = this.rec.rejected;
    this.rec = { ...this.rec, rejected: rest };
  }

  markKnownGood(version: string): void {
    if (this.rec.rejected?.[version]) return;
    const list = (this.rec.knownGood ?? []).filter((v) => v !== version);
    list.push(version);
    this.rec = { ...this.rec, knownGood: list.slice(-VERSIONS_KEPT) };
  }

  forget(version: string): void {
    this.rec = {
      ...this.rec,
      knownGood: (this.rec.knownGood ?? []).filter((v) => v !== version),
      previous: this.rec.previous === version ? null : this.rec.previous,
    };
  }

  note(entry: HistoryEntry): void {
    this.rec = { ...this.rec, history: [...(this.rec.history ?? []), entry].slice(-HISTORY_KEPT) };
  }

  /**
   * Where a rollback from `active` goes: the previous version unless it is rejected, else the newest known
   * good version that is still there (`exists`) and not rejected; null when there is none.
   */
  rollbackTarget(
    active: string | null,
    exists: (version: string) => boolean,
    exclude: string[] = [],
  ): string | null {
    const usable = (v: string | null | undefined): v is string =>
      !!v && v !== active && !exclude.includes(v) && !this.rec.rejected?.[v] && exists(v);
    if (usable(this.rec.previous)) return this.rec.previous;
    return [...(this.rec.knownGood ?? [])].reverse().find(usable) ?? null;
  }

  /** Writes active.json; the caller decides what a failed write (a full disk) means. */
  save(): void {
    this.versions.writeActive(this.rec);
  }
}
