import { type Stats, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { describeKind } from '../read-limited.js';
import type { AgentConfig } from './schema.js';
import type { PathKey } from './yaml-doc.js';

/**
 * Paths in the config that exist but are the wrong kind of thing: a `versionsDir` at `/dev/null`, a model
 * path at `/dev/urandom`, a store path that is a directory. They are config mistakes (exit 78 before
 * anything starts), not start failures. Paths that do not exist yet are not judged here: the agent creates
 * its directories, and a missing model is a model problem that `check` and `/readyz` report.
 */
export function pathKindProblems(config: AgentConfig): { path: PathKey[]; message: string }[] {
  const out: { path: PathKey[]; message: string }[] = [];
  const want = (path: PathKey[], file: string | undefined, kind: 'file' | 'directory') => {
    if (!file) return;
    const found = kindOf(file);
    if (found === null || found === kind) return;
    const what = found === 'file' || found === 'directory' ? `a ${found}` : found;
    out.push({ path, message: `${file} is ${what}, not a ${kind}` });
  };
  want(['store', 'path'], config.store.path, 'file');
  want(['store', 'path'], dirname(config.store.path), 'directory');
  want(['store', 'imagesDir'], config.store.imagesDir, 'directory');
  for (const key of ['ca', 'cert', 'key'] as const) want(['mqtt', key], config.mqtt[key], 'file');
  config.models.forEach((m, i) => {
    want(['models', i, 'path'], m.path, 'file');
    want(['models', i, 'manifest'], m.manifest, 'file');
    want(['models', i, 'versionsDir'], m.versionsDir, 'directory');
    want(['models', i, 'inbox'], m.inbox, 'directory');
    want(['models', i, 'engineCacheDir'], m.engineCacheDir, 'directory');
  });
  config.cameras.forEach((c, i) => {
    if (c.source.type === 'folder') want(['cameras', i, 'source', 'path'], c.source.path, 'directory');
  });
  return out;
}

/** 'file', 'directory', a description of anything else, or null when nothing is there (yet). */
function kindOf(path: string): string | null {
  let stat: Stats | undefined;
  try {
    stat = statSync(path, { throwIfNoEntry: false });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTDIR: a parent is a file or a device (e.g. /dev/null/models): nothing can ever be created there
    if (code === 'ENOTDIR') return 'under something that is not a directory';
    return null; // EACCES and the like: the service user may see what we cannot; check says more
  }
  if (!stat) return null;
  return stat.isFile() ? 'file' : stat.isDirectory() ? 'directory' : describeKind(stat);
}
