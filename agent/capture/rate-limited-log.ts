import type { Logger } from 'pino';
import { LogLimit } from '../log-limit.js';
import { type Clock, systemClock } from '../service.js';

/**
 * A camera that sends garbage sends it 30 times a second: one log line per frame would drown the log and
 * the disk of an edge box. Lines are therefore limited per key (the kind of problem): the first one is
 * written, repeats within `intervalMs` are only counted, and the next line written says how many were held.
 */
export const DEFAULT_LOG_INTERVAL_MS = 60_000;

type Level = 'warn' | 'error' | 'info' | 'debug';

export class RateLimitedLog {
  private readonly limit: LogLimit;

  constructor(
    private readonly log: Logger,
    intervalMs: number = DEFAULT_LOG_INTERVAL_MS,
    private readonly clock: Clock = systemClock,
  ) {
    this.limit = new LogLimit({ windowMs: intervalMs });
  }

  warn(key: string, fields: Record<string, unknown>, message: string): void {
    this.write('warn', key, fields, message);
  }

  error(key: string, fields: Record<string, unknown>, message: string): void {
    this.write('error', key, fields, message);
  }

  /** How many lines for `key` were held back since the last one written (for tests and status). */
  heldBack(key: string): number {
    return this.limit.held(key);
  }

  private write(level: Level, key: string, fields: Record<string, unknown>, message: string): void {
    const decision = this.limit.take(key, this.clock.now());
    if (!decision.write) return;
    const held = decision.held;
    this.log[level]({ ...fields, problem: key, ...(held > 0 ? { suppressed: held } : {}) }, message);
  }
}
