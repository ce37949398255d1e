import type { Logger } from 'pino';
import type { Clock } from '../service.js';

/**
 * A PLC that is down or mis-mapped fails every poll (50 times a second at the default pollMs): the same
 * error is logged at most once per window per operation, with how many were swallowed since, while a new
 * message for that operation is logged at once because it usually means the cause changed.
 */
export const PLC_LOG_WINDOW_MS = 10_000;

interface Seen {
  message: string;
  at: number;
  suppressed: number;
}

export class ThrottledLog {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly windowMs = PLC_LOG_WINDOW_MS,
  ) {}

  warn(op: string, message: string, fields: Record<string, unknown> = {}): void {
    const now = this.clock.now();
    const prev = this.seen.get(op);
    if (prev && prev.message === message && now - prev.at < this.windowMs) {
      prev.suppressed++;
      return;
    }
    const suppressed = prev?.message === message ? prev.suppressed : 0;
    this.seen.set(op, { message, at: now, suppressed: 0 });
    this.log.warn(
      { ...fields, op, err: { message }, ...(suppressed > 0 ? { suppressed } : {}) },
      `PLC ${op} failed: ${message}`,
    );
  }

  /** Forgets an operation's last error once it works again, so the next failure is logged at once. */
  clear(op: string): void {
    this.seen.delete(op);
  }
}
