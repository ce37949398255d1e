import type { Logger } from 'pino';
import { z } from 'zod';
import { MAX_BASELINE_FRAMES, MIN_BASELINE_FRAMES } from '../drift/index.js';
import {
  AgentError,
  agentError,
  boundedMessage,
  describeError,
  type ErrorCode,
  ErrorCodes,
} from '../errors.js';
import type { RequestLogEntry, RequestVia } from '../store/index.js';
import type { MqttLink } from './mqtt-link.js';
import { describeIssues } from './request-issues.js';
import { ErrorLogLimit, MAX_LOGGED_ERRORS_PER_MINUTE } from './request-log-limit.js';

/**
 * `{status, data, error, transaction}`: the one response shape for MQTT and HTTP requests (CONTRACT 3). An
 * error carries its `code` (agent/errors.ts, docs/errors.md) beside the message, so a client can branch on
 * the code and show the message.
 */
export type RequestResponse =
  | { status: 'ok'; data?: unknown; transaction?: string | number; error?: undefined; code?: undefined }
  | { status: 'error'; code: ErrorCode; error: string; transaction?: string | number };

/**
 * A request over MQTT larger than this is refused unread, as over HTTP (fastify's bodyLimit): requests are
 * small flat objects, and the broker may pass messages of up to 256 MB (mosquitto's default limit).
 */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/** A transaction comes back with the response: a longer one is refused, never echoed. */
export const MAX_TRANSACTION_CHARS = 200;
const transaction = z.union([z.string().max(MAX_TRANSACTION_CHARS), z.number()]).optional();

/**
 * A request is a flat object (an argument may hold one more level at most): anything nested deeper than this
 * is refused before it is validated, so no later step (zod, the error preview, the request log) ever walks a
 * value a hostile client nested thousands of levels deep.
 */
export const MAX_REQUEST_DEPTH = 8;
/** A request name longer than this is not a name: the error quotes only its start. */
const MAX_NAME_ECHO = 64;

const decisionId = z.string().min(1).max(100);
/** Names and reasons are free text a person typed: blank is not an answer, and a novel is not a reason. */
const personText = (max: number) => z.string().trim().min(1).max(max);

/**
 * Every request's arguments, by name: the single map from request topic to payload type. A new request is
 * one entry here and one handler where the router is built (agent/app.ts).
 */
export const requestSchemas = {
  outcome: z.strictObject({
    transaction,
    decisionId,
    actual: z.enum(['OK', 'NG']),
    source: personText(200).optional(),
  }),
  override: z.strictObject({
    transaction,
    decisionId,
    // a person judges the part: ERROR is the machine's word for "could not judge", not a verdict to give
    verdict: z.enum(['OK', 'NG', 'UNCERTAIN']),
    user: personText(200),
    reason: personText(2000),
  }),
  trigger: z.strictObject({
    transaction,
    camera: z.string().min(1),
    partId: z.string().min(1).max(200).optional(),
  }),
  'camera/enable': z.strictObject({ transaction, camera: z.string().min(1), enabled: z.boolean() }),
  'model/promote': z.strictObject({
    transaction,
    model: z.string().min(1),
    version: z.union([z.string().min(1), z.number()]).transform(String),
    // promote although a gate failed or the version was rejected; written to the rollout record
    force: z.boolean().optional(),
    // judge only these cameras, or this share of parts, for real before taking the whole line
    canary: z
      .strictObject({
        cameras: z.array(z.string().min(1)).min(1).max(100).optional(),
        share: z.number().gt(0).max(1).optional(),
      })
      .optional(),
  }),
  'model/rollback': z.strictObject({ transaction, model: z.string().min(1) }),
  'model/delete': z.strictObject({
    transaction,
    model: z.string().min(1),
    version: z.union([z.string().min(1), z.number()]).transform(String),
    force: z.boolean().optional(),
  }),
  // build a drift baseline from the next N live decisions (docs/drift.md); N defaults to drift.baselineDecisions
  'drift/baseline': z.strictObject({
    transaction,
    camera: z.string().min(1),
    decisions: z.number().int().min(MIN_BASELINE_FRAMES).max(MAX_BASELINE_FRAMES).optional(),
  }),
  // a recipe by id, or by the number a PLC would write (docs/recipes.md)
  'recipe/select': z.strictObject({
    transaction,
    recipe: z.union([z.string().min(1).max(100), z.number().int().min(0).max(65_535)]),
  }),
} as const;

export type RequestName = keyof typeof requestSchemas;
export type RequestArgs<N extends RequestName> = Omit<z.output<(typeof requestSchemas)[N]>, 'transaction'>;
/** Who sent a request: handlers that change the model record it (the rollout record says who asked). */
export interface RequestContext {
  via: RequestVia;
}
export type RequestHandlers = {
  [N in RequestName]: (args: RequestArgs<N>, context: RequestContext) => Promise<unknown>;
};

/** Where every request received is written down (the store's AuditLog). */
export interface RequestJournal {
  logRequest(entry: RequestLogEntry): void;
}

export interface RouterOptions {
  journal?: RequestJournal;
  now?: () => number;
  /** Error requests logged per minute at most (default MAX_LOGGED_ERRORS_PER_MINUTE). */
  maxLoggedErrorsPerMinute?: number;
  /** Called for each error request not logged because of that limit (a metric counts them). */
  onUnlogged?: (entry: RequestLogEntry) => void;
}

/**
 * Validates and dispatches requests, and logs every one received (valid or not, malformed JSON included)
 * with how it was answered. A malformed or unknown request gets `status: "error"`, the code of what was
 * wrong and a message saying it, and changes nothing.
 */
export class RequestRouter {
  private readonly journal: RequestJournal | undefined;
  private readonly now: () => number;
  private readonly errorLimit: ErrorLogLimit;
  private readonly onUnlogged: ((entry: RequestLogEntry) => void) | undefined;

  constructor(
    private readonly handlers: RequestHandlers,
    private readonly log: Logger,
    opts: RouterOptions = {},
  ) {
    this.journal = opts.journal;
    this.now = opts.now ?? Date.now;
    this.errorLimit = new ErrorLogLimit(opts.maxLoggedErrorsPerMinute ?? MAX_LOGGED_ERRORS_PER_MINUTE);
    this.onUnlogged = opts.onUnlogged;
  }

  /** A request whose body is already parsed. */
  async handle(name: string, body: unknown, via: RequestVia = 'internal'): Promise<RequestResponse> {
    const receivedAt = this.now();
    const response = await this.dispatch(name, body, via);
    this.record({
      receivedAt,
      via,
      name,
      body: stringify(body),
      status: response.status,
      error: response.error,
    });
    return response;
  }

  /** A request as it came off the wire: `text` is parsed here, so malformed JSON is answered and logged too. */
  async handleText(name: string, text: string, via: RequestVia): Promise<RequestResponse> {
    const receivedAt = this.now();
    let response: RequestResponse;
    // an empty body is an empty object: `POST /api/...` with no body for a request without arguments
    const parsed = parseJson(text.trim() === '' ? '{}' : text);
    if ('error' in parsed) response = errorResponse(agentError('REQUEST_MALFORMED', parsed.error));
    else if (depthOf(parsed.value, MAX_REQUEST_DEPTH) > MAX_REQUEST_DEPTH) {
      response = errorResponse(agentError('REQUEST_TOO_DEEP', MAX_REQUEST_DEPTH));
    } else response = await this.dispatch(name, parsed.value, via);
    this.record({ receivedAt, via, name, body: text, status: response.status, error: response.error });
    return response;
  }

  /**
   * A request refused before it was read (no or wrong credentials, retained): logged without its body
   * (whoever has no token does not get to write 4 KiB of their choice into the store), answered, nothing
   * done.
   */
  refuse(name: string, _text: string, via: RequestVia, why: AgentError): RequestResponse {
    const response = errorResponse(why);
    this.record({ receivedAt: this.now(), via, name, body: null, status: 'error', error: response.error });
    return response;
  }

  /**
   * A request answered elsewhere (the multipart model upload, `model/install`): written to the same log,
   * under the same limit on error entries.
   */
  journalled(entry: RequestLogEntry): void {
    this.record(entry);
  }

  /**
   * Serves `R/request/<name>` and answers on `R/response/<name>`.
   *
   * A retained request is never executed: the broker hands it to us again on every start and reconnect (a
   * retained `camera/enable false` would disable the camera after each restart). It is refused once per
   * delivery and answered, so whoever published it learns why. An empty message is how a retained one is
   * cleared: it is no request, and is ignored.
   */
  attach(link: MqttLink): void {
    const prefix = `${link.topicRoot}/request/`;
    link.onMessage((topic, payload, meta) => {
      if (!topic.startsWith(prefix)) return;
      if (payload.length === 0) return;
      const name = topic.slice(prefix.length);
      const tooLarge = payload.length > MAX_REQUEST_BYTES;
      const text = tooLarge ? '' : payload.toString('utf8');
      const answered = meta.retain
        ? Promise.resolve(this.refuse(name, text, 'mqtt', agentError('REQUEST_RETAINED')))
        : tooLarge
          ? Promise.resolve(this.refuse(name, '', 'mqtt', tooLargeError(payload.length)))
          : this.handleText(name, text, 'mqtt');
      answered
        .then((response) => this.respond(link, name, response))
        .catch((err: unknown) => this.log.error({ err, request: echoName(name) }, 'request not answered'));
    });
  }

  private async dispatch(name: string, body: unknown, via: RequestVia): Promise<RequestResponse> {
    const tx = pickTransaction(body);
    const fail = (err: AgentError): RequestResponse => errorResponse(err, tx);
    if (!Object.hasOwn(requestSchemas, name)) {
      return fail(agentError('REQUEST_UNKNOWN', { name, known: Object.keys(requestSchemas) }));
    }
    const schema = requestSchemas[name as RequestName];
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const problems = describeIssues(parsed.error.issues, body, Object.keys(schema.shape));
      return fail(agentError('REQUEST_INVALID', { name, problems }));
    }
    const { transaction: _tx, ...args } = parsed.data as { transaction?: unknown } & Record<string, unknown>;
    try {
      const handler = this.handlers[name as RequestName] as (
        a: unknown,
        c: RequestContext,
      ) => Promise<unknown>;
      const data = await handler(args, { via });
      return {
        status: 'ok',
        ...(data !== undefined ? { data } : {}),
        ...(tx !== undefined ? { transaction: tx } : {}),
      };
    } catch (err) {
      // a coded refusal (4xx: an unknown camera, a promote the deployment refuses) is the caller's to fix:
      // answered, not logged; a coded 5xx is logged and keeps its code; anything uncoded is a failure of the
      // agent's, logged and answered as INTERNAL
      const coded = err instanceof AgentError ? err : undefined;
      if (!coded?.callerFault) this.log.error({ err, request: name }, 'request failed');
      return fail(coded ?? new AgentError(ErrorCodes.INTERNAL, describeError(err), { cause: err }));
    }
  }

  /**
   * A request log that cannot be written must not take the request down with it: log and answer anyway.
   * Error requests past the per-minute limit are counted, not written (see request-log-limit.ts).
   */
  private record(entry: RequestLogEntry): void {
    if (!this.journal) return;
    if (entry.status === 'error' && !this.errorLimit.take(entry.receivedAt)) {
      this.onUnlogged?.(entry);
      if (this.errorLimit.dropped === 1) {
        this.log.warn(
          { request: entry.name, via: entry.via },
          'too many refused or invalid requests this minute: the rest of the minute is counted, not logged',
        );
      }
      return;
    }
    try {
      this.journal.logRequest(entry);
    } catch (err) {
      this.log.error({ err, request: entry.name }, 'cannot write the request log');
    }
  }

  private respond(link: MqttLink, name: string, response: RequestResponse): void {
    link
      .publish(`${link.topicRoot}/response/${name}`, JSON.stringify(response), { qos: 1 })
      .catch((err: unknown) => this.log.warn({ err, request: name }, 'could not publish a response'));
  }
}

/** The answer to a request that failed: its code and message, and the transaction when the body had one. */
function errorResponse(err: AgentError, tx?: string | number): RequestResponse {
  return {
    status: 'error',
    code: err.code,
    error: boundedMessage(err.message),
    ...(tx !== undefined ? { transaction: tx } : {}),
  };
}

function tooLargeError(bytes: number): AgentError {
  return new AgentError(
    ErrorCodes.BODY_TOO_LARGE,
    `a request of ${bytes} bytes is over the ${MAX_REQUEST_BYTES}-byte limit; nothing was read`,
  );
}

function echoName(name: string): string {
  return name.length > MAX_NAME_ECHO ? `${name.slice(0, MAX_NAME_ECHO)}...` : name;
}

/**
 * How deeply `value` nests, counted without recursion and without looking past `limit + 1` levels, so a
 * hostile value cannot overflow the stack here either.
 */
export function depthOf(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest > limit) return deepest;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

function parseJson(text: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    return { error: describeError(err) };
  }
}

function stringify(body: unknown): string | null {
  if (body === undefined) return null;
  try {
    return JSON.stringify(body) ?? String(body);
  } catch (err) {
    return `(unserialisable body: ${describeError(err)})`;
  }
}

function pickTransaction(body: unknown): string | number | undefined {
  if (body && typeof body === 'object' && 'transaction' in body) {
    const tx = (body as { transaction: unknown }).transaction;
    if (typeof tx === 'number' || (typeof tx === 'string' && tx.length <= MAX_TRANSACTION_CHARS)) return tx;
  }
  return undefined;
}
