import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { AgentError, ErrorCodes } from '../errors.js';
import { crc32 } from './zip-writer.js';

/**
 * Reads a zip archive from a file, an entry at a time: the central directory is read (bounded), then each
 * entry on demand, STORE or DEFLATE (a dataset re-zipped by hand after relabelling is deflated), its CRC
 * checked. Every read is bounded: a hostile or broken archive gets a clear error, never an unbounded
 * allocation. No zip64, no encryption, no multi-disk archives: refused by name.
 */

/** An entry larger than this (after inflating) is refused: a frame is a few MB at most. */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024;
const MAX_ENTRIES = 200_000;
const MAX_CENTRAL_BYTES = 32 * 1024 * 1024;
/** The end record sits in the last 22 bytes plus a comment of up to 64 KiB. */
const END_SEARCH = 22 + 0xffff;

export interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  offset: number;
}

const invalid = (path: string, why: string) =>
  new AgentError(ErrorCodes.DATASET_INVALID, `${path} is not a readable zip archive: ${why}`);

export class ZipReader {
  private fd: number;
  readonly entries: ZipEntry[];
  private readonly byName = new Map<string, ZipEntry>();

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
    this.entries = this.readDirectory();
    for (const e of this.entries) this.byName.set(e.name, e);
  }

  static open(path: string): ZipReader {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw new AgentError(ErrorCodes.DATASET_INVALID, `cannot open ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      return new ZipReader(path, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** One entry's bytes, inflated and checked against its CRC. */
  read(name: string): Buffer {
    const e = this.byName.get(name);
    if (!e) throw invalid(this.path, `no entry "${name.slice(0, 200)}"`);
    if (e.size > MAX_ENTRY_BYTES || e.compressedSize > MAX_ENTRY_BYTES) {
      throw invalid(this.path, `entry "${name}" is ${e.size} bytes, more than ${MAX_ENTRY_BYTES}`);
    }
    const local = this.at(e.offset, 30);
    if (local.readUInt32LE(0) !== 0x04034b50) throw invalid(this.path, `entry "${name}" has no local header`);
    const start = e.offset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const raw = this.at(start, e.compressedSize);
    let data: Buffer;
    if (e.method === 0) data = raw;
    else if (e.method === 8) {
      try {
        data = inflateRawSync(raw, { maxOutputLength: MAX_ENTRY_BYTES });
      } catch (err) {
        throw invalid(this.path, `entry "${name}" does not inflate: ${(err as Error).message}`);
      }
    } else
      throw invalid(
        this.path,
        `entry "${name}" uses compression method ${e.method} (only store and deflate)`,
      );
    if (data.length !== e.size || crc32(data) !== e.crc) {
      throw invalid(this.path, `entry "${name}" is corrupt (size or CRC does not match)`);
    }
    return data;
  }

  private at(position: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, buf, got, length - got, position + got);
      if (n === 0) throw invalid(this.path, 'it ends early');
      got += n;
    }
    return buf;
  }

  private readDirectory(): ZipEntry[] {
    const size = fstatSync(this.fd).size;
    if (size < 22) throw invalid(this.path, `${size} bytes`);
    const tailLength = Math.min(size, END_SEARCH);
    const tail = this.at(size - tailLength, tailLength);
    let end = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        end = i;
        break;
      }
    }
    if (end < 0) throw invalid(this.path, 'no end of central directory record');
    const count = tail.readUInt16LE(end + 10);
    const dirSize = tail.readUInt32LE(end + 12);
    const dirOffset = tail.readUInt32LE(end + 16);
    if (tail.readUInt16LE(end + 4) !== 0 || tail.readUInt16LE(end + 6) !== 0) {
      throw invalid(this.path, 'multi-disk archives are not read');
    }
    if (count === 0xffff || dirOffset === 0xffffffff) throw invalid(this.path, 'zip64 archives are not read');
    if (count > MAX_ENTRIES || dirSize > MAX_CENTRAL_BYTES || dirOffset + dirSize > size) {
      throw invalid(this.path, `central directory of ${count} entries, ${dirSize} bytes at ${dirOffset}`);
    }
    const dir = this.at(dirOffset, dirSize);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > dir.length || dir.readUInt32LE(p) !== 0x02014b50) {
        throw invalid(this.path, `central directory entry ${i} is damaged`);
      }
      const flags = dir.readUInt16LE(p + 8);
      if (flags & 1) throw invalid(this.path, 'encrypted entries are not read');
      const nameLength = dir.readUInt16LE(p + 28);
      const extra = dir.readUInt16LE(p + 30);
      const comment = dir.readUInt16LE(p + 32);
      const name = dir.toString(flags & 0x0800 ? 'utf8' : 'latin1', p + 46, p + 46 + nameLength);
      entries.push({
        name,
        method: dir.readUInt16LE(p + 10),
        crc: dir.readUInt32LE(p + 16),
        compressedSize: dir.readUInt32LE(p + 20),
        size: dir.readUInt32LE(p + 24),
        offset: dir.readUInt32LE(p + 42),
      });
      p += 46 + nameLength + extra + comment;
    }
    return entries;
  }
}
