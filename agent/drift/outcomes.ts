import type { OutcomesSummary } from './report.js';
import { OutcomeTally } from './window.js';

/** Closed windows' outcomes kept for pooling: a plant that sends few outcomes still gets a verdict. */
export const MAX_POOLED_WINDOWS = 50;

export type Confusion = OutcomeTally['confusion'];

/**
 * Realised accuracy from the plant's outcomes: per window (the report's `outcomes`) and pooled over the
 * latest windows until at least `minOutcomes` outcomes, which is what ACCURACY_BELOW_FLOOR judges.
 */
export class OutcomeBook {
  private current = new OutcomeTally();
  private recent: OutcomeTally[] = [];

  add(verdict: 'OK' | 'NG' | 'UNCERTAIN' | 'ERROR', actual: 'OK' | 'NG'): void {
    this.current.add(verdict, actual);
  }

  /**
   * Ends the window: its outcomes (undefined when none came) and the pooled judgement against `floor`.
   * Breach is null (no judgement, no streak moves) when no outcome came in this window (old outcomes are
   * not judged twice), fewer than `minOutcomes` are pooled, or no floor is set.
   */
  closeWindow(
    floor: number | undefined,
    minOutcomes: number,
  ): { summary?: OutcomesSummary; breach: boolean | null } {
    const tally = this.current;
    this.current = new OutcomeTally();
    this.recent.push(tally);
    if (this.recent.length > MAX_POOLED_WINDOWS) this.recent.shift();
    const pooled = new OutcomeTally();
    for (let i = this.recent.length - 1; i >= 0 && pooled.count < minOutcomes; i--) {
      pooled.addAll(this.recent[i] as OutcomeTally);
    }
    const accuracy = pooled.summary().accuracy;
    const judged = pooled.count >= minOutcomes && accuracy !== null;
    if (tally.count === 0) return { breach: null };
    const breach = judged && floor !== undefined ? accuracy < floor : null;
    const summary: OutcomesSummary = {
      ...tally.summary(),
      ...(judged
        ? { pooled: { count: pooled.count, accuracy, floor: floor ?? null, breach: breach === true } }
        : {}),
    };
    return { summary, breach };
  }

  /** What survives a restart: the closed windows' confusion matrices. */
  toJSON(): Confusion[] {
    return this.recent.map((t) => t.confusion);
  }

  static from(saved: unknown): OutcomeBook {
    const book = new OutcomeBook();
    if (!Array.isArray(saved)) return book;
    for (const c of saved.slice(-MAX_POOLED_WINDOWS) as Confusion[]) {
      const t = new OutcomeTally();
      for (const actual of ['OK', 'NG'] as const) {
        for (const verdict of ['OK', 'NG', 'UNCERTAIN', 'ERROR'] as const) {
          const n = Number(c?.[actual]?.[verdict] ?? 0);
          if (Number.isSafeInteger(n) && n > 0) {
            t.confusion[actual][verdict] = n;
            t.count += n;
          }
        }
      }
      book.recent.push(t);
    }
    return book;
  }
}
