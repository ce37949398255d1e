import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { tempDir } from './agent-process.js';

/**
 * Real faults for storage tests (and the chaos scenarios that reuse them): a tiny file system that really
 * fills up (ENOSPC), files the kernel refuses to write (chattr +i: EPERM, or a read-only remount: EROFS),
 * and what a file system really holds (allocated blocks, as `du` counts them).
 *
 * Each needs root (mount, chattr). Missing it, a test skips with a loud reason; under CI=true a skip is a
 * failure, as for a missing tool (test/helpers/tools.ts).
 */
function skipLoudly(t: Test, reason: string): false {
  if (process.env.CI === 'true') {
    t.fail(`CI=true and ${reason}`);
  } else {
    process.stderr.write(`\n*** SKIPPED: ${reason}\n`);
    t.plan(0, `SKIPPED: ${reason}`);
  }
  return false;
}

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/**
 * A tmpfs of `sizeMB` mounted on a fresh temp dir, unmounted at teardown; null (the test skipped) when it
 * cannot be mounted (not root, no mount permission in this container).
 */
export function smallDisk(t: Test, sizeMB: number): string | null {
  const dir = tempDir('eva-tmpfs-');
  const mounted = run('mount', ['-t', 'tmpfs', '-o', `size=${Math.round(sizeMB * 1024)}k`, 'tmpfs', dir]);
  if (!mounted.ok) {
    skipLoudly(t, `a ${sizeMB} MB tmpfs cannot be mounted (${mounted.out || 'mount failed'}): run as root`);
    return null;
  }
  t.teardown(() => {
    // lazily: an agent still closing its files must not make the unmount fail
    run('umount', ['-l', dir]);
  });
  return dir;
}

/** Fills the file system holding `dir` up to its last block with one file; `free()` removes it. */
export function fillDisk(dir: string, name = 'filler'): { path: string; bytes: number; free(): void } {
  const path = join(dir, name);
  const fd = openSync(path, 'a');
  const chunk = Buffer.alloc(64 * 1024, 0x55);
  let bytes = 0;
  try {
    for (let size = chunk.length; size >= 1; size = Math.floor(size / 2)) {
      for (;;) {
        try {
          bytes += writeSync(fd, chunk, 0, size);
        } catch {
          break; // ENOSPC at this size: try a smaller write, down to one byte
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return { path, bytes, free: () => rmSync(path, { force: true }) };
}

/**
 * Makes files immutable (`chattr +i`: every write, rename or delete is refused with EPERM, even for root),
 * undone at teardown. False (the test skipped) when the file system does not support it.
 */
export function immutable(t: Test, paths: readonly string[]): boolean {
  const present = paths.filter((p) => existsSync(p));
  const r = run('chattr', ['+i', ...present]);
  if (!r.ok) {
    skipLoudly(t, `chattr +i is not supported here (${r.out}): run as root on ext4, xfs or tmpfs`);
    return false;
  }
  t.teardown(() => {
    mutable(present);
  });
  return true;
}

/** Undoes `immutable` (the operator fixes the files). */
export function mutable(paths: readonly string[]): void {
  const present = paths.filter((p) => existsSync(p));
  if (present.length > 0) run('chattr', ['-i', ...present]);
}

/** Bytes a directory tree really takes on disk: every file's and directory's blocks (`du -s -B1`). */
export function diskUsed(dir: string): number {
  let total = statSync(dir).blocks * 512;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += diskUsed(path);
    else {
      try {
        total += statSync(path).blocks * 512;
      } catch {
        // removed while walking
      }
    }
  }
  return total;
}
