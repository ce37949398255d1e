import { closeSync, fsyncSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { fileSystemOf } from './disk-space.js';

const CHUNK = 64 * 1024;

/**
 * Room kept back on the store's disk for the one moment it is needed: when the disk is full, SQLite needs
 * free space to free space (a checkpoint may grow the database file, a delete needs WAL frames). The file
 * (`<store.path>.reserve`, zeros, written and synced so its blocks are really allocated) is deleted then, the
 * store frees what it may, and the file is made again once the disk has room (docs/storage.md).
 */
export class ReserveFile {
  constructor(
    readonly path: string,
    /** What it should hold; 0 = none. */
    private readonly targetBytes: number,
  ) {}

  /** Bytes it holds on disk now. */
  get bytes(): number {
    try {
      return statSync(this.path).size;
    } catch {
      return 0; // released, or never made
    }
  }

  get released(): boolean {
    return this.targetBytes > 0 && this.bytes < this.targetBytes;
  }

  /**
   * Makes (or tops up) the file to its size. Stops at a full disk, leaving what it wrote (a reserve that
   * is smaller is still a reserve); returns the bytes it holds. Throws nothing: a disk that has no room is
   * what the reserve exists for.
   */
  ensure(): number {
    const have = this.bytes;
    if (this.targetBytes <= 0 || have >= this.targetBytes) return have;
    let fd: number | undefined;
    let size = have;
    try {
      fd = openSync(this.path, 'a');
      const zeros = Buffer.alloc(CHUNK);
      while (size < this.targetBytes) {
        size += writeSync(fd, zeros, 0, Math.min(CHUNK, this.targetBytes - size));
      }
      fsyncSync(fd);
    } catch {
      // ENOSPC (or worse): keep what was written
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    return this.bytes;
  }

  /** Deletes the file; the bytes it gave back. */
  release(): number {
    const had = this.bytes;
    rmSync(this.path, { force: true });
    return had;
  }
}

/**
 * The reserve file's size: `store.reserveMB`, but at most a tenth of the budget and a tenth of the file
 * system (a reserve that took a small disk's room would cause what it is there to cure).
 */
export function reserveBytes(opts: { reserveMB?: number; maxDiskMB: number }, dbPath: string): number {
  const MB = 1024 * 1024;
  const fs = fileSystemOf(dbPath);
  const bytes = Math.min((opts.reserveMB ?? 0) * MB, (opts.maxDiskMB * MB) / 10, (fs?.size ?? Infinity) / 10);
  return Math.floor(bytes);
}
