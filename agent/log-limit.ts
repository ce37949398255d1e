/**
 * The one rate limit for repeated log lines (camera problems, PLC errors, the request log): per key, at most
 * `max` lines are written in a window of `windowMs`; the rest are held (counted, not written), and the next
 * line written for that key says how many were held before it. A failing camera or PLC repeats the same line
 * many times a second: this keeps the first, and the count, without filling the log or the disk.
 */
export interface LogLimitOptions {
  windowMs: number;
  /** Lines written per key per window (default 1). */
  max?: number;
  /**
   * Windows on a fixed grid (each minute from :00 for a one-minute window), so a limit reads "per minute";
   * by default a window opens with the first line written after the previous one closed.
   */
  aligned?: boolean;
}

export type LogLimitDecision =
  /** write it; `held` lines for this key were held since the last one written */
  | { write: true; held: number }
  /** hold it; it is the `heldInWindow`-th held in this window */
  | { write: false; heldInWindow: number };

interface KeyState {
  windowStart: number;
  written: number;
  heldInWindow: number;
  /** held since the last line written: reported with the next one */
  held: number;
}

export class LogLimit {
  private readonly keys = new Map<string, KeyState>();
  private readonly max: number;

  constructor(private readonly opts: LogLimitOptions) {
    this.max = opts.max ?? 1;
  }

  /** Whether a line for `key` may be written at `now` (counted either way). */
  take(key: string, now: number): LogLimitDecision {
    const state = this.window(key, now);
    if (state.written < this.max) {
      state.written++;
      const held = state.held;
      state.held = 0;
      return { write: true, held };
    }
    state.held++;
    state.heldInWindow++;
    return { write: false, heldInWindow: state.heldInWindow };
  }

  /** Lines for `key` held since the last one written. */
  held(key: string): number {
    return this.keys.get(key)?.held ?? 0;
  }

  /** Starts `key` over: its next line is written at once, and what was held is dropped from the count. */
  forget(key: string): void {
    this.keys.delete(key);
  }

  private window(key: string, now: number): KeyState {
    const { windowMs, aligned } = this.opts;
    const start = aligned ? Math.floor(now / windowMs) * windowMs : now;
    const state = this.keys.get(key);
    if (!state) {
      const fresh = { windowStart: start, written: 0, heldInWindow: 0, held: 0 };
      this.keys.set(key, fresh);
      return fresh;
    }
    // a clock set back opens a new grid window too; unaligned, the window simply lasts longer
    const over = aligned ? state.windowStart !== start : now - state.windowStart >= windowMs;
    if (over) {
      state.windowStart = start;
      state.written = 0;
      state.heldInWindow = 0;
    }
    return state;
  }
}
