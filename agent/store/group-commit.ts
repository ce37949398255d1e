import type { Decision, DecisionDraft, Evidence } from '../decision/index.js';
import type { WrittenImage } from './image-store.js';

/** A verdict ready to be stored: its draft, the image files already written for it, what it judged. */
export interface ReadyDecision {
  draft: DecisionDraft;
  written: WrittenImage[];
  evidence?: Evidence | undefined;
}

interface Queued {
  ready: ReadyDecision;
  resolve(decision: Decision): void;
  reject(err: unknown): void;
}

export interface GroupCommitDeps {
  /** Every verdict in ONE transaction (one fsync), in order; throws, having stored none, when any fails. */
  commitAll(ready: readonly ReadyDecision[]): Decision[];
  /** One verdict, as the line always stored it: stored, or held in memory (degraded); throws when refused. */
  commitOne(ready: ReadyDecision): Decision;
}

/**
 * Group commit (docs/storage.md): the verdicts that become ready in the same turn of the event loop (several
 * cameras, a burst of requested triggers) are stored together, in one transaction with one fsync of the
 * WAL, at the end of that turn (`setImmediate`: the check phase, after the I/O callbacks that made them
 * ready; no timer, no added wait). Each caller's promise resolves only after that commit, so nothing is
 * answered, told or published before it is durable. Seqs follow the order the verdicts were queued in.
 * A group that fails is rolled back whole and each verdict is then stored alone, exactly as without
 * grouping (full disk: freed a step at a time; store refusing: held in memory, degraded), so a failed group
 * loses none and gives no verdict another's seq or images.
 */
export class GroupCommit {
  private queue: Queued[] = [];
  private scheduled: NodeJS.Immediate | undefined;

  constructor(private readonly deps: GroupCommitDeps) {}

  get waiting(): number {
    return this.queue.length;
  }

  add(ready: ReadyDecision): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) => {
      this.queue.push({ ready, resolve, reject });
      this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Stores what is queued now: at the end of the turn, or at once (stop). */
  flush(): void {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const queued = this.queue;
    this.queue = [];
    if (queued.length === 0) return;
    if (queued.length > 1) {
      let decisions: Decision[] | undefined;
      try {
        decisions = this.deps.commitAll(queued.map((q) => q.ready));
      } catch {
        // rolled back whole (the store noted why): each is stored on its own below, as without grouping
      }
      if (decisions) {
        for (const [i, q] of queued.entries()) q.resolve(decisions[i] as Decision);
        return;
      }
    }
    for (const q of queued) {
      try {
        q.resolve(this.deps.commitOne(q.ready));
      } catch (err) {
        q.reject(err);
      }
    }
  }
}
