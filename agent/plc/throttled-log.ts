import type { Logger } from 'pino';
import { LogLimit } from '../log-limit.js';
import type { Clock } from '../service.js';

/**
 * A PLC that is down or mis-mapped fails every poll (50 times a second at the default pollMs): the same
 * error is logged at most once per window per operation, with how many were swallowed since, while a new
 * message for that operation is logged at once because it usually means the cause changed.
 */
export const PLC_LOG_WINDOW_MS = 10_000;

export class ThrottledLog {
  private readonly limit: LogLimit;
  /** The last message per operation: a different one starts the operation's limit over. */
  private readonly messages = new Map<string, string>();

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
    windowMs = PLC_LOG_WINDOW_MS,
  ) {
    this.limit = new LogLimit({ windowMs });
  }

  warn(op: string, message: string, fields: Record<string, unknown> = {}): void {
    if (this.messages.get(op) !== message) {
      this.limit.forget(op);
      this.messages.set(op, message);
    }
    const decision = this.limit.take(op, this.clock.now());
    if (!decision.write) return;
    const suppressed = decision.held;
    this.log.warn(
      { ...fields, op, err: { message }, ...(suppressed > 0 ? { suppressed } : {}) },
      `PLC ${op} failed: ${message}`,
    );
  }

  /** Forgets an operation's last error once it works again, so the next failure is logged at once. */
  clear(op: string): void {
    this.limit.forget(op);
    this.messages.delete(op);
  }
}
