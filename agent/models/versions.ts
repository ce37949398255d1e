import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AgentError, ErrorCodes } from '../errors.js';
import { READ_LIMITS, readTextLimited } from '../read-limited.js';

/** A version rolled back automatically (or that failed to load at start): never reloaded without `force`. */
export interface Rejection {
  at: number;
  reason: string;
}

/** What the watch after a promotion compares against, saved so a restart inside the window keeps it. */
export interface WatchRecord {
  version: string;
  since: number;
  until: number;
  baseline: Baseline;
  /** The version it was promoted over (rolled back to on a verdict against it). */
  over: string | null;
  /** A canary: cameras (or a share of parts) the candidate judges while the rest stay on the active one. */
  canary?: CanaryScope | undefined;
}

export interface CanaryScope {
  cameras?: string[] | undefined;
  share?: number | undefined;
}

/** The outgoing version's figures over its last frames (health-watch.ts). */
export interface Baseline {
  frames: number;
  errorRate: number;
  missRate: number;
  skipRate: number;
  /** p95 of the model's time per frame (ms); null without frames */
  latencyP95: number | null;
  /** share of NG among judged frames; null when no frame was judged with a camera's rules */
  ngRate: number | null;
  /** accuracy on plant outcomes, with how many outcomes; null when too few */
  accuracy: number | null;
  outcomes: number;
}

/** One change of a model's versions, with who asked and on what evidence: the deployment's own log. */
export interface HistoryEntry {
  at: number;
  action: 'install' | 'promote' | 'canary' | 'rollback' | 'auto-rollback' | 'delete' | 'start-fallback';
  version: string;
  from?: string | null | undefined;
  /** mqtt, http (the token holder), inbox, internal */
  via?: string | undefined;
  forced?: string[] | undefined;
  reason?: string | undefined;
  evidence?: unknown;
}

/** What survives a restart: which version judges the line, and which one a rollback returns to. */
export interface ActiveRecord {
  active: string;
  previous: string | null;
  /** The configured model's version when this was written: a changed agent.yaml model wins over it. */
  configured: string;
  at: number;
  /** When `active` was promoted (by hand): the fallback is kept `keepPreviousDays` from then. */
  promotedAt?: number | null | undefined;
  /** The watch after the last promotion, while its window lasts. */
  watch?: WatchRecord | null | undefined;
  rejected?: Record<string, Rejection> | undefined;
  /** Versions that judged the line without a verdict against them, oldest first. */
  knownGood?: string[] | undefined;
  /** Newest last, the last HISTORY_KEPT entries. */
  history?: HistoryEntry[] | undefined;
}

const VERSION_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Installed versions, one folder each (`<dir>/<version>/model.onnx` + manifest + golden images), and
 * `active.json`, written atomically (temp file + rename) so a crash mid-write leaves the old record.
 */
/** Where a model's installed versions and active.json live: `models[].versionsDir`, else beside the store. */
export function versionsDirOf(
  storePath: string,
  model: { id: string; versionsDir?: string | undefined },
): string {
  return model.versionsDir ?? join(dirname(storePath), 'models', model.id);
}

export class VersionStore {
  constructor(readonly dir: string) {}

  /** A version string becomes a folder name: only safe characters, never `..`. */
  static checkVersion(version: string): void {
    if (!VERSION_PATTERN.test(version) || version === '.' || version === '..') {
      throw new AgentError(
        ErrorCodes.MODEL_REJECTED,
        `version "${version}" must be 1-64 characters of [A-Za-z0-9._-] (it names a folder)`,
      );
    }
  }

  folder(version: string): string {
    VersionStore.checkVersion(version);
    return join(this.dir, version);
  }

  /** The model file of an installed version, if it is installed. */
  modelPath(version: string): string | undefined {
    const path = join(this.folder(version), 'model.onnx');
    return existsSync(path) ? path : undefined;
  }

  installed(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir, { withFileTypes: true })
      .filter(
        (e) => e.isDirectory() && !e.name.startsWith('.') && existsSync(join(this.dir, e.name, 'model.onnx')),
      )
      .map((e) => e.name)
      .sort();
  }

  /** Removes an installed version's folder. */
  remove(version: string): void {
    rmSync(this.folder(version), { recursive: true, force: true });
  }

  readActive(): ActiveRecord | undefined {
    const path = join(this.dir, 'active.json');
    if (!existsSync(path)) return undefined;
    try {
      const record = JSON.parse(readTextLimited(path, READ_LIMITS.record, 'record')) as ActiveRecord;
      if (typeof record?.active !== 'string') throw new Error('no "active" version in it');
      return record;
    } catch (err) {
      throw new AgentError(ErrorCodes.MODEL_DEPLOY, `cannot read ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  writeActive(record: ActiveRecord): void {
    mkdirSync(this.dir, { recursive: true });
    const path = join(this.dir, 'active.json');
    writeFileSync(`${path}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
    renameSync(`${path}.tmp`, path);
  }
}
