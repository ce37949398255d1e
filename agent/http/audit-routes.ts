import type { FastifyInstance } from 'fastify';
import type { Verdict } from '../decision/index.js';
import { agentError, quote } from '../errors.js';
import type { AuditedDecision, AuditFilter, AuditPage, LoggedRequest } from '../store/index.js';
import { sendError } from './http-errors.js';
import { QueryReader } from './query-reader.js';

export interface AuditDeps {
  list: (filter: AuditFilter) => AuditPage;
  /** By id, or by seq (all digits). */
  get: (idOrSeq: string) => AuditedDecision | undefined;
  /** The request log, newest first (extension: `GET /api/requests`). */
  requests?: (limit: number, before?: number) => LoggedRequest[];
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
    if ('errors' in parsed) return sendError(reply, agentError('QUERY_INVALID', parsed.errors));
    const page = deps.list(parsed.filter);
    return {
      decisions: page.decisions,
      nextBefore: page.nextBefore,
      next: page.nextBefore === null ? null : nextLink(parsed.filter, page.nextBefore),
    };
  });

  app.get<{ Params: { id: string } }>('/api/decisions/:id', async (req, reply) => {
    const decision = deps.get(req.params.id);
    if (!decision) return sendError(reply, agentError('DECISION_NOT_FOUND', req.params.id));
    return decision;
  });

  // extension: the request log (who asked what, over which way, and how it was answered), for audits of
  // overrides and for finding why a PLC's or MES's requests fail; no SQLite tool needed on the box
  const readLog = deps.requests;
  if (readLog) {
    app.get('/api/requests', async (req, reply) => {
      const q = new QueryReader(req.query as Record<string, unknown>, ['limit', 'before']);
      const limit = q.integer('limit', 1, MAX_LIMIT, `an integer from 1 to ${MAX_LIMIT}`) ?? DEFAULT_LIMIT;
      const before = q.integer(
        'before',
        1,
        Number.MAX_SAFE_INTEGER,
        'a request id (the nextBefore of the previous page)',
      );
      if (q.errors.length) return sendError(reply, agentError('QUERY_INVALID', q.errors));
      const rows = readLog(limit + 1, before);
      const more = rows.length > limit;
      const page = more ? rows.slice(0, limit) : rows;
      const nextBefore = more ? (page.at(-1)?.id ?? null) : null;
      return {
        requests: page,
        nextBefore,
        next: nextBefore === null ? null : `/api/requests?limit=${limit}&before=${nextBefore}`,
      };
    });
  }
}

/** Checks a query string against the CONTRACT filters; all problems together, each saying what was expected. */
export function parseAuditQuery(
  query: Record<string, unknown>,
): { filter: AuditFilter } | { errors: string[] } {
  const q = new QueryReader(query, QUERY_KEYS, 'filter');
  const camera = q.text('camera');
  const partId = q.text('partId');
  const verdictText = q.one('verdict');
  const verdict = VERDICTS.find((v) => v === verdictText?.toUpperCase());
  if (verdictText !== undefined && !verdict) {
    q.errors.push(`verdict must be one of ${VERDICTS.join(', ')}, got ${quote(verdictText)}`);
  }
  const epochMs = 'a time in epoch milliseconds (UTC), e.g. 1763890000123';
  const from = q.integer('from', 0, Number.MAX_SAFE_INTEGER, epochMs);
  const to = q.integer('to', 0, Number.MAX_SAFE_INTEGER, epochMs);
  if (from !== undefined && to !== undefined && from > to)
    q.errors.push(`from (${from}) is after to (${to})`);
  const limit = q.integer('limit', 1, MAX_LIMIT, `an integer from 1 to ${MAX_LIMIT}`) ?? DEFAULT_LIMIT;
  const before = q.integer(
    'before',
    1,
    Number.MAX_SAFE_INTEGER,
    'a decision seq (the nextBefore of the previous page)',
  );
  if (q.errors.length) return { errors: q.errors };
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
