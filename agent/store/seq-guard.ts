import type { Database } from 'better-sqlite3';
import { SeqMark } from './seq-mark.js';

/** The store was found behind the highest seq it had handed out: decisions vanished from it. */
export interface SeqRewind {
  /** The vanished seqs are `from..to`; the next decision gets `to + 1`. */
  from: number;
  to: number;
  /** The highest seq a channel had acknowledged before: the plant has the vanished ones up to about there. */
  ackedUpTo: number;
  /** `start`: the database opened behind the mark; `running`: its last seq went down while the agent ran. */
  where: 'start' | 'running';
  at: number;
}

/**
 * Makes a seq impossible to hand out twice (CONTRACT: "never reused, survives restarts"), even when the
 * database loses its newest transactions (its WAL deleted, or lost with a disk). The highest seq ever handed
 * out lives in the database (`sqlite_sequence`) and, outside it, in a SeqMark file; each new seq is above
 * both. At start, a database behind its mark is a loss: reported (`rewind`), and `sqlite_sequence` is raised
 * to the mark so the numbering continues above it. On every record the database's last seq is compared with
 * the highest this process saw committed, so a rewind while running is caught too.
 */
export class SeqGuard {
  private mark: SeqMark | undefined;
  private handed = 0;
  private committedMax = 0;
  private rewound: SeqRewind | null = null;
  private readonly rewindListeners: ((r: SeqRewind) => void)[] = [];

  constructor(
    private readonly dbPath: string,
    private readonly now: () => number,
    /** As durable as the store: synchronous=FULL syncs the mark too. */
    private readonly durable = true,
  ) {}

  /** At open. Throws when the mark file cannot be opened (the store does not start without its guard). */
  open(db: Database, dbLast: number): void {
    let marked = 0;
    let acked = 0;
    if (this.dbPath !== ':memory:') {
      this.mark = new SeqMark(`${this.dbPath}.seq`, this.durable, this.now);
      const value = this.mark.open();
      marked = value?.seq ?? 0;
      acked = value?.acked ?? 0;
    }
    this.committedMax = dbLast;
    this.handed = Math.max(dbLast, marked);
    if (marked > dbLast) {
      this.report({ from: dbLast + 1, to: marked, ackedUpTo: acked, where: 'start', at: this.now() });
      try {
        raiseSequence(db, marked);
      } catch {
        // a full or read-only disk: `handed` keeps the numbering above the mark in this run, and the mark
        // (still ahead of the database) says the same at the next start
      }
    }
    this.mark?.advance(this.handed); // a new mark file starts where the database is
  }

  /** The seq the next decision gets: above everything stored and everything handed out. */
  next(dbLast: number): number {
    if (dbLast < this.committedMax) {
      this.report({
        from: dbLast + 1,
        to: this.committedMax,
        ackedUpTo: this.mark?.current.acked ?? 0,
        where: 'running',
        at: this.now(),
      });
      this.committedMax = dbLast; // reported once
    }
    return Math.max(dbLast, this.handed) + 1;
  }

  /**
   * `seq` was committed (or promised to a decision held in memory): the mark moves above it, durably.
   * Throws when the mark file cannot be written; the seq counts as handed out either way.
   */
  handOut(seq: number, committed: boolean): void {
    this.handed = Math.max(this.handed, seq);
    if (committed) this.committedMax = Math.max(this.committedMax, seq);
    this.mark?.advance(seq);
  }

  acked(seq: number): void {
    this.mark?.ack(seq);
  }

  get handedOut(): number {
    return this.handed;
  }

  get rewind(): SeqRewind | null {
    return this.rewound;
  }

  onRewind(listener: (r: SeqRewind) => void): void {
    this.rewindListeners.push(listener);
    if (this.rewound) listener(this.rewound);
  }

  close(): void {
    this.mark?.close();
  }

  private report(r: SeqRewind): void {
    this.rewound = r;
    for (const listener of this.rewindListeners) listener(r);
  }
}

/** AUTOINCREMENT numbers from sqlite_sequence: raising it there makes the numbering continue above `seq`. */
function raiseSequence(db: Database, seq: number): void {
  db.transaction(() => {
    const changed = db
      .prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'decisions' AND seq < ?")
      .run(seq, seq).changes;
    const exists = db.prepare("SELECT 1 FROM sqlite_sequence WHERE name = 'decisions'").get();
    if (changed === 0 && !exists) {
      db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('decisions', ?)").run(seq);
    }
  })();
}
