import type { FastifyInstance } from 'fastify';
import type { Verdict } from '../decision/index.js';
import type { AuditedDecision, AuditFilter, AuditPage } from '../store/index.js';

export interface AuditDeps {
  list: (filter: AuditFilter) => AuditPage;
  /** By id, or by seq (all digits). */
  get: (idOrSeq: string) => AuditedDecision | undefined;
}

const VERDICTS: readonly Verdict[] = ['OK', 'NG', 'UNCERTAIN', 'ERROR'];
const QUERY_KEYS = ['camera', 'verdict', 'partId', 'from', 'to', 'limit', 'before'] as const;
export const DEFAULT_LIMIT = 100;
/** A page is one response body: 1000 decisions is ~1 MB of JSON, enough for a screen or a script's batch. */
export const MAX_LIMIT = 1000;

/**
 * `GET /api/decisions` and `GET /api/decisions/:id`: the audit trail (CONTRACT section 4). A query is
 * checked as a whole and every problem reported at once; a typo'd filter name is an error rather than
 * silently ignored, because an auditor reading "all decisions" when they asked for one camera's is worse
 * than a 400.
 */
export function registerAuditRoutes(app: FastifyInstance, deps: AuditDeps): void {
  app.get('/api/decisions', async (req, reply) => {
    const parsed = parseAuditQuery(req.query as Record<string, unknown>);
    if ('errors' in parsed) {
      return reply.code(400).send({ status: 'error', error: parsed.errors.join('; ') });
    }
    const page = deps.list(parsed.filter);
    return {
      decisions: page.decisions,
      nextBefore: page.nextBefore,
      next: page.nextBefore === null ? null : nextLink(parsed.filter, page.nextBefore),
    };
  });

  app.get<{ Params: { id: string } }>('/api/decisions/:id', async (req, reply) => {
    const decision = deps.get(req.params.id);
    if (!decision) return reply.code(404).send({ status: 'error', error: `no decision ${req.params.id}` });
    return decision;
  });
}

/** Checks a query string against the CONTRACT filters; all problems together, each saying what was expected. */
export function parseAuditQuery(
  query: Record<string, unknown>,
): { filter: AuditFilter } | { errors: string[] } {
  const errors: string[] = [];
  const unknown = Object.keys(query).filter((k) => !(QUERY_KEYS as readonly string[]).includes(k));
  if (unknown.length) {
    errors.push(`unknown filter ${unknown.map((k) => `"${k}"`).join(', ')}; known: ${QUERY_KEYS.join(', ')}`);
  }
  const one = (key: string): string | undefined => {
    const value = query[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      errors.push(`${key} given more than once; give it once`);
      return undefined;
    }
    if (value.trim() === '') {
      errors.push(`${key} is empty; leave it out to not filter by it`);
      return undefined;
    }
    return value;
  };
  const text = (key: string): string | undefined => {
    const value = one(key);
    if (value !== undefined && value.length > 200) errors.push(`${key} is longer than 200 characters`);
    return value;
  };
  const integer = (key: string, min: number, max: number, what: string): number | undefined => {
    const value = one(key);
    if (value === undefined) return undefined;
    const n = /^-?[0-9]+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      errors.push(`${key} must be ${what}, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return n;
  };

  const camera = text('camera');
  const partId = text('partId');
  const verdictText = one('verdict');
  const verdict = VERDICTS.find((v) => v === verdictText?.toUpperCase());
  if (verdictText !== undefined && !verdict) {
    errors.push(`verdict must be one of ${VERDICTS.join(', ')}, got ${JSON.stringify(verdictText)}`);
  }
  const epochMs = 'a time in epoch milliseconds (UTC), e.g. 1763890000123';
  const from = integer('from', 0, Number.MAX_SAFE_INTEGER, epochMs);
  const to = integer('to', 0, Number.MAX_SAFE_INTEGER, epochMs);
  if (from !== undefined && to !== undefined && from > to) errors.push(`from (${from}) is after to (${to})`);
  const limit = integer('limit', 1, MAX_LIMIT, `an integer from 1 to ${MAX_LIMIT}`) ?? DEFAULT_LIMIT;
  const before = integer(
    'before',
    1,
    Number.MAX_SAFE_INTEGER,
    'a decision seq (the nextBefore of the previous page)',
  );
  if (errors.length) return { errors };
  return { filter: { camera, verdict, partId, from, to, before, limit } };
}

/** The next page's path with the same filters, so a script (or a person) just follows it. */
function nextLink(filter: AuditFilter, nextBefore: number): string {
  const params = new URLSearchParams();
  for (const key of QUERY_KEYS) {
    const value = key === 'before' ? nextBefore : filter[key];
    if (value !== undefined) params.set(key, String(value));
  }
  return `/api/decisions?${params.toString()}`;
}
