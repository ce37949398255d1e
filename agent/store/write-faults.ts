import { describeError } from '../errors.js';
import { type StoreFault, storeFault } from './open-database.js';

/**
 * The store's writes, each judged on its own: a full disk may refuse a new decision (it needs new pages)
 * while an acknowledgement (an update in place) still goes through, so one success must not clear another
 * write's failure (that would raise and clear the alert on every decision).
 */
export type StoreOp = 'record' | 'ack' | 'probe' | 'seq-mark' | 'checkpoint';

export interface WriteFault {
  op: StoreOp;
  kind: StoreFault;
  /** Bounded: what SQLite or the file system said. */
  error: string;
  /** When this op first failed in a row. */
  since: number;
}

/**
 * What a success proves: a decision's write (new pages) needs more than an acknowledgement's (an update in
 * place), so it proves both; a probe writes what a decision writes.
 */
const CLEARS: Record<StoreOp, readonly StoreOp[]> = {
  record: ['record', 'ack'],
  ack: ['ack'],
  probe: ['probe', 'record', 'ack'],
  'seq-mark': ['seq-mark'],
  checkpoint: ['checkpoint'],
};

const MAX_ERROR_CHARS = 300;

/** Which store writes are failing now, and why; listeners hear of each change (not of each repeat). */
export class WriteFaults {
  private readonly faults = new Map<StoreOp, WriteFault>();
  private readonly listeners: ((faults: readonly WriteFault[]) => void)[] = [];

  constructor(private readonly now: () => number) {}

  /** A write succeeded (no `err`) or failed: returns the fault's kind when `err` is about the store's health. */
  note(op: StoreOp, err?: unknown): StoreFault | undefined {
    if (err === undefined) {
      let changed = false;
      for (const cleared of CLEARS[op]) changed = this.faults.delete(cleared) || changed;
      if (changed) this.tell();
      return undefined;
    }
    const kind = storeFault(err);
    if (!kind) return undefined;
    const known = this.faults.get(op);
    const error = describeError(err).slice(0, MAX_ERROR_CHARS);
    if (known?.kind === kind) {
      known.error = error; // the latest words, but no news
      return kind;
    }
    this.faults.set(op, { op, kind, error, since: this.now() });
    this.tell();
    return kind;
  }

  list(): WriteFault[] {
    return [...this.faults.values()].map((f) => ({ ...f }));
  }

  has(kind?: StoreFault): boolean {
    if (kind === undefined) return this.faults.size > 0;
    return [...this.faults.values()].some((f) => f.kind === kind);
  }

  onChange(listener: (faults: readonly WriteFault[]) => void): void {
    this.listeners.push(listener);
  }

  private tell(): void {
    const now = this.list();
    for (const listener of this.listeners) listener(now);
  }
}
