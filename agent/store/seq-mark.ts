import { closeSync, fdatasyncSync, openSync, readSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';

/** One record: magic, generation, seq, acked, crc32 of what precedes it. */
const SLOT_BYTES = 32;
/**
 * The mark is written (to the page cache) with every seq, and synced to the disk at most this often. A
 * write alone survives the agent being killed or crashing, which is what loses a deleted WAL; the sync is
 * for a power cut on top of a lost WAL. Syncing every decision doubled the fsyncs of a decision (measured:
 * 5.1 -> 8.5 ms a decision on the shared development disk); once a second bounds that double fault's window
 * to a second, the same time the WAL watch takes to save a deleted WAL.
 */
export const MARK_SYNC_MS = 1_000;
const MAGIC = 0x31535645; // "EVS1", little-endian

export interface SeqMarkValue {
  /** The highest seq ever handed out. */
  seq: number;
  /** The highest seq some channel had acknowledged (advisory: written without fsync). */
  acked: number;
}

/**
 * The highest `seq` ever handed out, kept outside SQLite and its WAL, in a 64-byte file beside the database
 * (`<store.path>.seq`), so a WAL that is deleted (or lost with the disk's cache) cannot make the store hand
 * out a seq again: at start the store continues above this mark whatever the database says (issue 16,
 * failure 8).
 *
 * Why a file and not a second SQLite database: one number, overwritten in place at a fixed offset, needs one
 * `fdatasync` of one block that is already allocated (no metadata, no journal; it works on a full disk);
 * a rollback-journal database would cost a journal file, two or three syncs and a directory entry per
 * update. Two slots are written alternately, each with a generation and a crc32, so a write torn by a power
 * cut leaves the other slot whole.
 */
export class SeqMark {
  private fd: number | undefined;
  private generation = 0;
  private value: SeqMarkValue = { seq: 0, acked: 0 };
  private readonly buf = Buffer.alloc(SLOT_BYTES);

  private syncedAt = Number.NEGATIVE_INFINITY;
  private dirty = false;

  /** `durable: false` (a store with synchronous=NORMAL, crash-safe but not power-safe) never syncs. */
  constructor(
    readonly path: string,
    private readonly durable = true,
    private readonly now: () => number = Date.now,
  ) {}

  /** Opens (creates) the file; what it held, or null when it is new or no slot is whole. */
  open(): SeqMarkValue | null {
    this.fd = openSync(this.path, 'a+'); // created when missing; never truncated
    closeSync(this.fd);
    this.fd = openSync(this.path, 'r+');
    const whole = Buffer.alloc(SLOT_BYTES * 2);
    const n = readSync(this.fd, whole, 0, whole.length, 0);
    let best: { generation: number; value: SeqMarkValue } | null = null;
    for (let slot = 0; slot < 2; slot++) {
      if (n < (slot + 1) * SLOT_BYTES) break;
      const parsed = parseSlot(whole.subarray(slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES));
      if (parsed && (!best || parsed.generation > best.generation)) best = parsed;
    }
    if (!best) return null;
    this.generation = best.generation;
    this.value = best.value;
    return { ...best.value };
  }

  get current(): SeqMarkValue {
    return { ...this.value };
  }

  /**
   * Records `seq` as handed out: written at once, synced at most every MARK_SYNC_MS (and at close). Throws
   * when the file cannot be written.
   */
  advance(seq: number): void {
    if (seq <= this.value.seq) return;
    this.write({ seq, acked: this.value.acked }, this.now() - this.syncedAt >= MARK_SYNC_MS);
  }

  /** Records the highest acknowledged seq; not synced (it only sizes a loss report, never guards a seq). */
  ack(seq: number): void {
    if (seq <= this.value.acked) return;
    this.write({ seq: Math.max(this.value.seq, seq), acked: seq }, false);
  }

  close(): void {
    if (this.fd === undefined) return;
    if (this.dirty && this.durable) fdatasyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }

  private write(value: SeqMarkValue, sync: boolean): void {
    if (this.fd === undefined) return;
    const generation = this.generation + 1;
    const b = this.buf;
    b.fill(0);
    b.writeUInt32LE(MAGIC, 0);
    b.writeBigUInt64LE(BigInt(generation), 4);
    b.writeBigUInt64LE(BigInt(value.seq), 12);
    b.writeBigUInt64LE(BigInt(value.acked), 20);
    b.writeUInt32LE(crc32(b.subarray(0, 28)), 28);
    writeSync(this.fd, b, 0, SLOT_BYTES, (generation % 2) * SLOT_BYTES);
    this.dirty = true;
    if (sync && this.durable) {
      fdatasyncSync(this.fd);
      this.syncedAt = this.now();
      this.dirty = false;
    }
    this.generation = generation;
    this.value = value;
  }
}

function parseSlot(b: Buffer): { generation: number; value: SeqMarkValue } | null {
  if (b.readUInt32LE(0) !== MAGIC || b.readUInt32LE(28) !== crc32(b.subarray(0, 28))) return null;
  return {
    generation: Number(b.readBigUInt64LE(4)),
    value: { seq: Number(b.readBigUInt64LE(12)), acked: Number(b.readBigUInt64LE(20)) },
  };
}
