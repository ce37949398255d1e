import type { Clock, TimerHandle } from '../../agent/service.js';

interface Timer {
  at: number;
  fn: () => void;
  id: number;
  /** set for a periodic timer: it comes round again this long after each call */
  every?: number;
}

/** A clock that moves only when the test says so; timers fire in order as it passes them. */
export class ManualClock implements Clock {
  private timers: Timer[] = [];
  private nextId = 1;

  constructor(private current = 1_700_000_000_000) {}

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add({ at: this.current + Math.max(0, ms), fn });
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== (handle as unknown as number));
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    // as Node does, a period under 1 ms is 1 ms (a zero period would never let time pass)
    const every = Math.max(1, ms);
    return this.add({ at: this.current + every, fn, every });
  }

  clearInterval(handle: TimerHandle): void {
    this.clearTimeout(handle);
  }

  /** Timers waiting to fire (periodic ones count once). */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward, firing due timers, and lets promise callbacks run between them. */
  async advance(ms: number): Promise<void> {
    const until = this.current + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const due = this.timers[0];
      if (!due || due.at > until) break;
      this.current = due.at;
      // a periodic timer is rescheduled before it runs, so its callback may clear it
      if (due.every !== undefined) due.at += due.every;
      else this.timers.shift();
      due.fn();
      await flush();
    }
    this.current = until;
    await flush();
  }

  /** Timers set and not yet fired or cleared: lets a test prove that nothing is left waiting on the clock. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  private add(timer: Omit<Timer, 'id'>): TimerHandle {
    const id = this.nextId++;
    this.timers.push({ ...timer, id });
    return id as unknown as TimerHandle;
  }
}

export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
