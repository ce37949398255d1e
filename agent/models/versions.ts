import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AgentError, ErrorCodes } from '../errors.js';
import { READ_LIMITS, readTextLimited } from '../read-limited.js';

/** What survives a restart: which version judges the line, and which one a rollback returns to. */
export interface ActiveRecord {
  active: string;
  previous: string | null;
  /** The configured model's version when this was written: a changed agent.yaml model wins over it. */
  configured: string;
  at: number;
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

  readActive(): ActiveRecord | undefined {
    const path = join(this.dir, 'active.json');
    if (!existsSync(path)) return undefined;
    try {
      return JSON.parse(readTextLimited(path, READ_LIMITS.record, 'record')) as ActiveRecord;
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
