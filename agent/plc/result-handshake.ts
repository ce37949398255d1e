import type { Logger } from 'pino';
import type { PlcConfig } from '../config/index.js';
import type { Clock } from '../service.js';
import { type ModbusClient, mapVerdict, readBit, type VerdictLike, writeOutput } from './registers.js';
import type { PlcIo } from './types.js';

// One PLC scan (typically 1-10 ms) must see resultValid low between two results, or it misses the second edge.
const RESULT_VALID_MIN_LOW_MS = 20;

export interface ResultEntry {
  readonly acquisitionId: number;
  result?: VerdictLike;
}

/**
 * The results half of the handshake: results are posted strictly in trigger order (a PLC shift register
 * expects them so), one at a time: ok/ng (+ resultId) -> resultValid high -> result ack rising, or
 * resultValidMs passing -> resultValid low for at least one PLC scan -> the next result.
 */
export class ResultHandshake {
  private queue: ResultEntry[] = [];
  private valid: { since: number; ackArmed: boolean } | undefined;
  private clearedAt = Number.NEGATIVE_INFINITY;
  private droppedCount = 0;

  constructor(
    private readonly config: PlcConfig,
    private readonly deps: { clock: Clock; log: Logger; io: PlcIo },
  ) {}

  /** Parts triggered and not posted yet. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Parts still being judged (their result has not arrived). */
  get judging(): number {
    return this.queue.filter((e) => !e.result).length;
  }

  /** Results that arrived and wait for their turn to be posted: the result buffer. */
  get buffered(): number {
    return this.queue.filter((e) => e.result).length;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  enqueue(acquisitionId: number): ResultEntry {
    const entry: ResultEntry = { acquisitionId };
    this.queue.push(entry);
    return entry;
  }

  /** On a new connection: a resultValid left high would make the PLC take stale ok/ng for its next part. */
  async begin(client: ModbusClient): Promise<void> {
    this.valid = undefined;
    const { table, resultValid } = this.config.outputs;
    await this.deps
      .io('write', 'resultValid', () => writeOutput(client, table, resultValid, false))
      .then(
        () => undefined,
        () => undefined, // counted and logged by io(); the PLC side is still usable
      );
  }

  /** After a lost connection the PLC's shift register has moved on: a late result would land on the wrong part. */
  dropAll(): void {
    if (this.queue.length === 0) return;
    this.droppedCount += this.queue.length;
    this.deps.log.warn({ dropped: this.queue.length }, 'PLC results dropped with the connection');
    this.queue = [];
  }

  /** One poll's worth of work: clear resultValid when acked or expired, else post the oldest finished result. */
  async service(client: ModbusClient): Promise<void> {
    const { outputs, resultAck, resultValidMs, pollMs } = this.config;
    const now = this.deps.clock.now();
    if (this.valid) {
      let acked = false;
      if (resultAck) {
        const ack = await this.deps.io('read', 'resultAck', () =>
          readBit(client, resultAck.table, resultAck.address),
        );
        // only an ack that rises after the post counts: one left high from the previous result does not
        if (!ack) this.valid.ackArmed = true;
        else acked = this.valid.ackArmed;
      }
      if (!acked && now - this.valid.since < resultValidMs) return;
      const cleared = await this.deps
        .io('write', 'resultValid', () => writeOutput(client, outputs.table, outputs.resultValid, false))
        .then(
          () => true,
          () => false, // counted and logged by io(); retried next poll
        );
      if (cleared) {
        this.valid = undefined;
        this.clearedAt = now;
      }
      return;
    }
    const head = this.queue[0];
    if (!head?.result || now - this.clearedAt < Math.max(pollMs, RESULT_VALID_MIN_LOW_MS)) return;
    this.queue.shift();
    await this.post(client, head, head.result);
  }

  private async post(client: ModbusClient, entry: ResultEntry, result: VerdictLike): Promise<void> {
    const { outputs, resultAck, uncertainAs } = this.config;
    const out = mapVerdict(result, uncertainAs);
    const write = async () => {
      const ackLow = resultAck ? !(await readBit(client, resultAck.table, resultAck.address)) : false;
      // data before resultValid: the PLC may latch ok/ng the moment it sees the valid edge
      await writeOutput(client, outputs.table, outputs.ok, out.ok);
      await writeOutput(client, outputs.table, outputs.ng, out.ng);
      if (outputs.resultId !== undefined) await client.writeRegister(outputs.resultId, entry.acquisitionId);
      await writeOutput(client, outputs.table, outputs.resultValid, true);
      return ackLow;
    };
    try {
      const ackLow = await this.deps.io('write', 'result', write);
      this.valid = { since: this.deps.clock.now(), ackArmed: ackLow };
      this.deps.log.debug(
        { acquisitionId: entry.acquisitionId, seq: result.seq, ...out },
        'PLC result posted',
      );
    } catch {
      // counted and logged by io(); a half-written result is not valid, and the PLC rejects the part
      this.droppedCount++;
    }
  }
}
