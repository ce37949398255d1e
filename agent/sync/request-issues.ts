import type { z } from 'zod';
import { quote } from '../errors.js';

/**
 * Turns schema issues into one line a plant engineer can act on: which field, what was expected, what came.
 * zod's own messages ("Invalid input: expected string, received undefined") do not say which field is
 * missing in words a PLC programmer searches for, and never quote the value that was refused.
 */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  body: unknown,
  allowed: readonly string[],
) {
  return issues.map((issue) => describeIssue(issue, body, allowed)).join('; ');
}

function describeIssue(issue: z.core.$ZodIssue, body: unknown, allowed: readonly string[]): string {
  const path = issue.path.map(String).join('.');
  const field = `field "${path}"`;
  const received = valueAt(body, issue.path);
  switch (issue.code) {
    case 'invalid_type':
      if (path === '') return `the request body must be a JSON object, got ${kindOf(body)}`;
      if (received === undefined) return `missing field "${path}" (expected ${issue.expected})`;
      return `${field} must be ${article(issue.expected)}, got ${kindOf(received)} ${preview(received)}`;
    case 'invalid_value':
      return `${field} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${preview(received)}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${quoteKeys(issue.keys)} (allowed: ${allowed.join(', ')})`;
    case 'too_small':
      if (issue.origin === 'string') {
        return Number(issue.minimum) <= 1
          ? `${field} must not be empty`
          : `${field} must have at least ${issue.minimum} characters`;
      }
      return `${field} must be at least ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string') return `${field} must have at most ${issue.maximum} characters`;
      return `${field} must be at most ${issue.maximum}`;
    case 'invalid_union':
      // only `transaction` is a union: a string or a number
      return `${field} must be a string or a number, got ${kindOf(received)} ${preview(received)}`;
    default:
      return `${path ? field : 'the request body'}: ${issue.message}`;
  }
}

/** At most MAX_KEYS_LISTED names, each quoted by its start: 100,000 unknown keys make one short line. */
function quoteKeys(keys: readonly string[]): string {
  const listed = keys.slice(0, MAX_KEYS_LISTED).map((k) => quote(k, PREVIEW_CHARS));
  const more = keys.length - listed.length;
  return more > 0 ? `${listed.join(', ')} and ${more} more` : listed.join(', ');
}

/** How many unknown field names an error lists. */
const MAX_KEYS_LISTED = 5;

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let value = body;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** A short rendering of a refused value, so the error shows what was sent without echoing a whole body. */
function preview(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value.slice(0, PREVIEW_CHARS + 1));
  else if (value !== null && typeof value === 'object') text = Array.isArray(value) ? '[...]' : '{...}';
  else text = String(value);
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}...` : text;
}

/** How much of a refused value an error quotes. */
const PREVIEW_CHARS = 40;
