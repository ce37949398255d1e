import { once } from 'node:events';
import type { Writable } from 'node:stream';

/**
 * A streaming zip writer, STORE only (no compression: the entries are JPEGs, which do not shrink): each
 * entry is written as it comes (local header, data) and only the central directory's small records are
 * kept until `finish()`. Nothing holds the archive in memory. Without zip64 an archive is limited to
 * 65 535 entries and 4 GiB, which this writer checks and refuses past (a dataset export stays far below:
 * see MAX_EXPORT_ITEMS in export.ts). Names are UTF-8 (general purpose flag bit 11).
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, as zip uses it); pass the previous value to continue over several chunks. */
export function crc32(data: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++)
    c = (CRC_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const MAX_ENTRIES = 0xffff;
const MAX_OFFSET = 0xffffffff;
const UTF8_FLAG = 0x0800;
const VERSION = 20; // 2.0: what a STORE archive needs

interface CentralRecord {
  name: Buffer;
  crc: number;
  size: number;
  offset: number;
  time: number;
  date: number;
}

/** MS-DOS time and date of a moment (local time, as zip tools show it; two-second resolution). */
function dosTime(at: Date): { time: number; date: number } {
  const year = Math.max(1980, at.getFullYear());
  return {
    time: (at.getHours() << 11) | (at.getMinutes() << 5) | Math.floor(at.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((at.getMonth() + 1) << 5) | at.getDate(),
  };
}

export class ZipWriter {
  private offset = 0;
  private readonly records: CentralRecord[] = [];
  private finished = false;

  constructor(private readonly out: Writable) {}

  get entries(): number {
    return this.records.length;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.offset;
  }

  /** Adds one file. Waits while the destination is full, so a slow reader holds the export back. */
  async add(name: string, data: Buffer, at = new Date()): Promise<void> {
    if (this.finished) throw new Error('zip already finished');
    const nameBytes = Buffer.from(name.replace(/\\/g, '/'), 'utf8');
    if (nameBytes.length > 0xffff) throw new Error(`zip entry name too long: ${name.slice(0, 80)}...`);
    if (this.records.length >= MAX_ENTRIES) {
      throw new Error(`a zip without zip64 holds at most ${MAX_ENTRIES} entries`);
    }
    const end = this.offset + 30 + nameBytes.length + data.length;
    if (end > MAX_OFFSET) throw new Error('a zip without zip64 is at most 4 GiB');
    const crc = crc32(data);
    const { time, date } = dosTime(at);
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(VERSION, 4);
    header.writeUInt16LE(UTF8_FLAG, 6);
    header.writeUInt16LE(0, 8); // STORE
    header.writeUInt16LE(time, 10);
    header.writeUInt16LE(date, 12);
    header.writeUInt32LE(crc, 14);
    header.writeUInt32LE(data.length, 18);
    header.writeUInt32LE(data.length, 22);
    header.writeUInt16LE(nameBytes.length, 26);
    header.writeUInt16LE(0, 28);
    this.records.push({ name: nameBytes, crc, size: data.length, offset: this.offset, time, date });
    await this.write(header);
    await this.write(nameBytes);
    await this.write(data);
  }

  /** Writes the central directory and the end record; the destination is ended. */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    const start = this.offset;
    for (const r of this.records) {
      const h = Buffer.alloc(46);
      h.writeUInt32LE(0x02014b50, 0);
      h.writeUInt16LE((3 << 8) | VERSION, 4); // made by: Unix, 2.0
      h.writeUInt16LE(VERSION, 6);
      h.writeUInt16LE(UTF8_FLAG, 8);
      h.writeUInt16LE(0, 10);
      h.writeUInt16LE(r.time, 12);
      h.writeUInt16LE(r.date, 14);
      h.writeUInt32LE(r.crc, 16);
      h.writeUInt32LE(r.size, 20);
      h.writeUInt32LE(r.size, 24);
      h.writeUInt16LE(r.name.length, 28);
      h.writeUInt16LE(0, 30); // extra
      h.writeUInt16LE(0, 32); // comment
      h.writeUInt16LE(0, 34); // disk
      h.writeUInt16LE(0, 36); // internal attributes
      h.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external: a regular file, rw-r--r--
      h.writeUInt32LE(r.offset, 42);
      await this.write(h);
      await this.write(r.name);
    }
    const size = this.offset - start;
    if (this.offset > MAX_OFFSET) throw new Error('a zip without zip64 is at most 4 GiB');
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(this.records.length, 8);
    end.writeUInt16LE(this.records.length, 10);
    end.writeUInt32LE(size, 12);
    end.writeUInt32LE(start, 16);
    await this.write(end);
    this.out.end();
    if (!this.out.writableFinished) await once(this.out, 'finish');
  }

  private async write(chunk: Buffer): Promise<void> {
    this.offset += chunk.length;
    if (this.out.destroyed) throw new Error('the destination of the zip was closed');
    if (this.out.write(chunk)) return;
    const out = this.out;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        out.off('drain', onDrain);
        out.off('close', onClose);
        out.off('error', done);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(new Error('the destination of the zip was closed'));
      out.on('drain', onDrain);
      out.on('close', onClose);
      out.on('error', done);
    });
  }
}
