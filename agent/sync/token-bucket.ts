import type { Clock } from '../service.js';

/**
 * A token bucket on the injected clock: `ratePerSec` tokens a second, at most `capacity` saved up. It
 * bounds how fast the backlog drains; whole tokens only, so a send either fits or waits.
 */
export class TokenBucket {
  private level: number;
  private last: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly capacity: number,
    private readonly clock: Clock,
  ) {
    this.level = capacity;
    this.last = clock.now();
  }

  /** Whole tokens available now. */
  available(): number {
    this.refill();
    return Math.floor(this.level);
  }

  take(): void {
    this.refill();
    this.level -= 1;
  }

  /** Milliseconds until the next whole token (at least 1, so a timer never spins). */
  msUntilNext(): number {
    this.refill();
    const missing = 1 - (this.level - Math.floor(this.level));
    return Math.max(1, Math.ceil((missing * 1000) / this.ratePerSec));
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.level = Math.min(this.capacity, this.level + (elapsed * this.ratePerSec) / 1000);
  }
}
