import { LogLimit } from '../log-limit.js';

/**
 * At most this many requests answered with an error (refused for the token, malformed, unknown, invalid,
 * rejected) are written to the request log per minute. The log goes through the store's single writer and
 * onto the same disk as decisions and NG images: unbounded, any host on the plant LAN that can reach the
 * HTTP port or the broker could grow the database until the disk budget deletes synced decisions and images.
 * 20 a minute keeps every error of a misconfigured PLC that sends one bad request per part at a part every
 * 3 s, and caps a flood at 20 x 4 KiB a minute (about 115 MiB a day, deleted by the retention sweep).
 * Requests answered `ok` are not limited: each one did something the log must account for.
 */
export const MAX_LOGGED_ERRORS_PER_MINUTE = 20;

const MINUTE_MS = 60_000;
const KEY = 'error requests';

/** A fixed one-minute window (by the injected clock) counting error requests logged in it. */
export class ErrorLogLimit {
  private readonly limit: LogLimit;
  /** Error requests not logged in the current window (the first one is worth a warning). */
  dropped = 0;

  constructor(max = MAX_LOGGED_ERRORS_PER_MINUTE) {
    this.limit = new LogLimit({ windowMs: MINUTE_MS, max, aligned: true });
  }

  /** True when one more error request may be logged now; counts it if so. */
  take(now: number): boolean {
    const decision = this.limit.take(KEY, now);
    this.dropped = decision.write ? 0 : decision.heldInWindow;
    return decision.write;
  }
}
