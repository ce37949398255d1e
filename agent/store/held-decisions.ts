import type { Logger } from 'pino';
import { composeDecision, type Decision, type DecisionDraft } from '../decision/index.js';
import { describeError } from '../errors.js';
import type { DecisionIdentity, DecisionStore } from './decision-store.js';

/**
 * Verdicts held while the store cannot write, at most: about 1.5 KB each (15 MB of memory), 8 minutes of a
 * camera at 20 frames/s. Past it a verdict that cannot be stored is refused (the shot fails, counted as
 * `decision_unstored`): memory stays bounded whatever the outage.
 */
export const MAX_HELD_DECISIONS = 10_000;
/** Held verdicts written per try, so a long hold is stored back without holding up the event loop. */
const FLUSH_BATCH = 500;
const MAX_CAUSE_CHARS = 200;

interface Held {
  draft: DecisionDraft;
  identity: DecisionIdentity;
}

/**
 * What the agent does with a verdict it cannot store (issue 16, failures 4 and 7): the line still gets it by
 * its deadline, and it is not lost while the agent runs.
 *
 * - The verdict is answered at once with an id and the next seq (handed out: the seq mark moves, so no other
 *   decision can take it), marked `degraded: true` with the reason saying it is held: a PLC maps degraded to
 *   reject (a part is not passed on a verdict that has no record), a trigger's caller sees it.
 * - It is kept in memory, in order, and written with that id and seq as soon as the store can write (the
 *   next decision, or the recovery loop), then published like any other (at-least-once from there on). Every
 *   later verdict queues behind it, so seq order is store order and the outbox's live lane misses none.
 * - Held verdicts never get images (the disk is what failed).
 * - The hold is bounded (MAX_HELD_DECISIONS); at stop whatever is still held is logged (count, seqs,
 *   verdicts). Their seqs were handed out, so after a restart the seq guard reports them as lost rather
 *   than giving their numbers to new decisions.
 */
export class HeldDecisions {
  private readonly queue: Held[] = [];
  /** Verdicts written late from the hold, since start. */
  stored = 0;

  constructor(
    private readonly store: DecisionStore,
    /** Writes one held verdict (the store's record with its identity, then tells DecisionStored). */
    private readonly write: (draft: DecisionDraft, identity: DecisionIdentity) => Decision,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.queue.length;
  }

  get isFull(): boolean {
    return this.queue.length >= MAX_HELD_DECISIONS;
  }

  /** Holds a verdict the store refused (`cause`); returns the decision as answered (degraded, held). */
  hold(draft: DecisionDraft, cause: unknown): Decision {
    const why = describeError(cause).slice(0, MAX_CAUSE_CHARS);
    const degraded: DecisionDraft = {
      ...draft,
      degraded: true,
      reason: `${draft.reason}; held in memory, not yet stored: ${why}`,
    };
    const identity = this.store.handOut();
    this.queue.push({ draft: degraded, identity });
    return composeDecision(degraded, { ...identity, agentId: this.agentId() });
  }

  /**
   * Writes held verdicts, oldest first, until one fails or FLUSH_BATCH are written; true when none is left.
   * A failure leaves that verdict (and all after it) held.
   */
  flush(): boolean {
    let n = 0;
    while (this.queue.length > 0 && n < FLUSH_BATCH) {
      const next = this.queue[0] as Held;
      try {
        this.write(next.draft, next.identity);
      } catch {
        return false; // the store noted why (its faults); the verdict stays first in line
      }
      this.queue.shift();
      this.stored += 1;
      n += 1;
    }
    if (n > 0) this.log.info({ stored: n, stillHeld: this.queue.length }, 'held verdicts stored');
    return this.queue.length === 0;
  }

  /** At stop: what could not be stored, said once, bounded. */
  reportLost(): void {
    if (this.queue.length === 0) return;
    const verdicts: Record<string, number> = {};
    for (const h of this.queue) verdicts[h.draft.verdict] = (verdicts[h.draft.verdict] ?? 0) + 1;
    this.log.error(
      {
        count: this.queue.length,
        firstSeq: this.queue[0]?.identity.seq,
        lastSeq: this.queue.at(-1)?.identity.seq,
        verdicts,
      },
      'stopping with verdicts the store could not write: they are lost (their seqs are not reused)',
    );
  }

  private agentId(): string {
    return this.store.agentId;
  }
}
