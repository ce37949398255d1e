import { quote } from '../errors.js';

/** How many unknown parameter names an error lists. */
const MAX_NAMES_LISTED = 5;

/**
 * Reads a query string's values one by one and collects every problem, so a 400 lists them all at once.
 * Names not asked for are reported too: a typo'd filter silently ignored returns the wrong rows.
 */
export class QueryReader {
  readonly errors: string[] = [];

  constructor(
    private readonly query: Record<string, unknown>,
    known: readonly string[],
    what = 'parameter',
  ) {
    const unknown = Object.keys(query).filter((k) => !known.includes(k));
    if (unknown.length) {
      // named by their start, at most a few: the error never echoes a query string back in full
      const listed = unknown.slice(0, MAX_NAMES_LISTED).map((k) => quote(k));
      const more = unknown.length > MAX_NAMES_LISTED ? ` and ${unknown.length - MAX_NAMES_LISTED} more` : '';
      this.errors.push(`unknown ${what} ${listed.join(', ')}${more}; known: ${known.join(', ')}`);
    }
  }

  /** One non-empty value, or undefined when absent. */
  one(key: string): string | undefined {
    const value = this.query[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      this.errors.push(`${key} given more than once; give it once`);
      return undefined;
    }
    if (value.trim() === '') {
      this.errors.push(`${key} is empty; leave it out to not filter by it`);
      return undefined;
    }
    return value;
  }

  text(key: string, maxLength = 200): string | undefined {
    const value = this.one(key);
    if (value !== undefined && value.length > maxLength) {
      this.errors.push(`${key} is longer than ${maxLength} characters`);
    }
    return value;
  }

  /** A decimal integer in [min, max]; `what` says what was expected, in the error. */
  integer(key: string, min: number, max: number, what: string): number | undefined {
    const value = this.one(key);
    if (value === undefined) return undefined;
    const n = /^-?[0-9]+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.errors.push(`${key} must be ${what}, got ${quote(value)}`);
      return undefined;
    }
    return n;
  }
}
