import type { Logger } from 'pino';
import { type Clock, systemClock } from '../service.js';

/**
 * A camera that sends garbage sends it 30 times a second: one log line per frame would drown the log and
 * the disk of an edge box. Lines are therefore limited per key (the kind of problem): the first one is
 * written, repeats within `intervalMs` are only counted, and the next line written says how many were held.
 */
export const DEFAULT_LOG_INTERVAL_MS = 60_000;

type Level = 'warn' | 'error' | 'info' | 'debug';

export class RateLimitedLog {
  private readonly lastAt = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number = DEFAULT_LOG_INTERVAL_MS,
    private readonly clock: Clock = systemClock,
  ) {}

  warn(key: string, fields: Record<string, unknown>, message: string): void {
    this.write('warn', key, fields, message);
  }

  error(key: string, fields: Record<string, unknown>, message: string): void {
    this.write('error', key, fields, message);
  }

  /** How many lines for `key` were held back since the last one written (for tests and status). */
  heldBack(key: string): number {
    return this.suppressed.get(key) ?? 0;
  }

  private write(level: Level, key: string, fields: Record<string, unknown>, message: string): void {
    const now = this.clock.now();
    const last = this.lastAt.get(key);
    if (last !== undefined && now - last < this.intervalMs) {
      this.suppressed.set(key, (this.suppressed.get(key) ?? 0) + 1);
      return;
    }
    const held = this.suppressed.get(key) ?? 0;
    this.lastAt.set(key, now);
    this.suppressed.delete(key);
    this.log[level]({ ...fields, problem: key, ...(held > 0 ? { suppressed: held } : {}) }, message);
  }
}
