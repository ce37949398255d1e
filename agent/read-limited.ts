import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';

/** Size limits for files the agent reads whole; a file over its limit is refused, never read. */
export const READ_LIMITS = {
  /** agent.yaml: a config of a thousand cameras is well under 1 MiB. */
  config: 4 * 1024 * 1024,
  /** a model manifest or an anomalib metadata.json. */
  manifest: 1024 * 1024,
  /** ONNX keeps a model in one protobuf, which cannot exceed 2 GiB. */
  model: 2 * 1024 * 1024 * 1024,
  /** a secret read from a `*_FILE` variable (a password, a token). */
  secret: 64 * 1024,
  /** small JSON records the agent writes itself (active.json). */
  record: 1024 * 1024,
} as const;

/** Why a path could not be read within its limit; `message` says it plainly (no errno prefix). */
export class ReadLimitError extends Error {
  override readonly name = 'ReadLimitError';
}

/**
 * Reads a regular file whole, refusing anything else before reading a byte: a device (`/dev/urandom`, which
 * never ends), a FIFO, a directory, or a file over `maxBytes`. A file that grows while it is read is cut at
 * the size it had when opened, so the read is bounded whatever happens to the file meanwhile.
 */
export function readFileLimited(path: string, maxBytes: number, what = 'file'): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw Object.assign(new ReadLimitError(`cannot read ${what} ${path}: ${why}`, { cause: err }), {
      code: e.code,
    });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new ReadLimitError(`${what} ${path} is not a regular file (${describeKind(stat)}): refused`);
    }
    if (stat.size > maxBytes) {
      throw new ReadLimitError(
        `${what} ${path} is ${formatBytes(stat.size)}, over the ${formatBytes(maxBytes)} limit: refused`,
      );
    }
    const buffer = Buffer.allocUnsafe(stat.size);
    let read = 0;
    while (read < stat.size) {
      const n = readSync(fd, buffer, read, stat.size - read, read);
      if (n === 0) break; // truncated while we read: what is there is what we have
      read += n;
    }
    return read === stat.size ? buffer : buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/** The same, as UTF-8 text. */
export function readTextLimited(path: string, maxBytes: number, what = 'file'): string {
  return readFileLimited(path, maxBytes, what).toString('utf8');
}

/** What a path is, in words for a message: 'a regular file', 'a directory', 'a character device', ... */
export function describeKind(stat: import('node:fs').Stats): string {
  if (stat.isFile()) return 'a regular file';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  return 'not a file';
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 * 1024) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** A file's SHA-256, streamed in chunks: a 1 GB model is hashed without being held in memory. */
export function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
