/**
 * Every error the agent raises on purpose, in one table (after fastify's `lib/errors.js`): a stable code that
 * logs, alerts and API responses are matched by, the HTTP status it answers with when it reaches a client,
 * and the template its message is written from. docs/errors.md lists them for the people writing clients.
 *
 * Throw `agentError('CAMERA_UNKNOWN', { camera, known })` where the template says it all, or
 * `new AgentError(ErrorCodes.X, message, { cause })` where the thrower writes the whole message; never throw
 * strings or uncoded Errors for a situation the table has a code for.
 *
 * The status says whose fault it is: 4xx the caller's (a request that is wrong, or names something this
 * agent does not have: answered, not logged as a failure), 5xx the agent's or what it depends on (logged).
 * `*_UNKNOWN`: a request's arguments name something the agent does not have (400); `*_NOT_FOUND`: the
 * resource a URL names is not there (404).
 */

/** The HTTP statuses a coded error answers with. */
export type ErrorStatus = 400 | 401 | 404 | 409 | 413 | 415 | 500 | 502 | 503 | 504 | 507;

/** One row of the table. `message` takes at most one argument (an object where it needs several). */
export interface ErrorSpec {
  readonly code: `EVA_ERR_${string}`;
  readonly status: ErrorStatus;
  readonly message: (...params: never[]) => string;
}

/**
 * How much of a value a client sent an error message quotes: enough to recognise it, never all of it (a
 * 10 MB camera id must not give a 10 MB response, log line or request-log row).
 */
export const MAX_QUOTE_CHARS = 64;

/** `"cam-9"`, or `"aaaa..." (10485760 characters)` for a value longer than `max`. */
export function quote(value: string, max = MAX_QUOTE_CHARS): string {
  return value.length > max ? `"${value.slice(0, max)}..." (${value.length} characters)` : `"${value}"`;
}

/** The longest error message a response or an HTTP error body carries; the rest is cut, and says so. */
export const MAX_RESPONSE_MESSAGE_CHARS = 2_000;

/** `message`, cut to MAX_RESPONSE_MESSAGE_CHARS: every error that reaches a client is bounded in size. */
export function boundedMessage(message: string): string {
  if (message.length <= MAX_RESPONSE_MESSAGE_CHARS) return message;
  return `${message.slice(0, MAX_RESPONSE_MESSAGE_CHARS)}... [${message.length - MAX_RESPONSE_MESSAGE_CHARS} more characters]`;
}

/** The template of errors whose thrower writes the whole message (fastify's `'%s'`). */
const asGiven = (message: string): string => message;

/** Freezes the table, and makes the type checker hold every code to `EVA_ERR_<its name>`. */
function defineErrors<
  const T extends { readonly [N in keyof T]: ErrorSpec & { readonly code: `EVA_ERR_${N & string}` } },
>(table: T): Readonly<T> {
  return Object.freeze(table);
}

export const errorTable = defineErrors({
  // configuration, startup and shutdown
  CONFIG_INVALID: { code: 'EVA_ERR_CONFIG_INVALID', status: 500, message: asGiven },
  CONFIG_READ: { code: 'EVA_ERR_CONFIG_READ', status: 500, message: asGiven },
  HTTP_LISTEN: { code: 'EVA_ERR_HTTP_LISTEN', status: 500, message: asGiven },
  SHUTDOWN_TIMEOUT: {
    code: 'EVA_ERR_SHUTDOWN_TIMEOUT',
    status: 500,
    message: ({ part, ms }: { part: string; ms: number }) => `${part} did not stop within ${ms} ms`,
  },

  // models and inference
  MODEL_LOAD: { code: 'EVA_ERR_MODEL_LOAD', status: 500, message: asGiven },
  MODEL_MANIFEST: { code: 'EVA_ERR_MODEL_MANIFEST', status: 500, message: asGiven },
  MODEL_GOLDEN: { code: 'EVA_ERR_MODEL_GOLDEN', status: 500, message: asGiven },
  MODEL_UNAVAILABLE: { code: 'EVA_ERR_MODEL_UNAVAILABLE', status: 503, message: asGiven },
  /** A version offered for install (upload or inbox) that does not verify: the offer is wrong. */
  MODEL_REJECTED: { code: 'EVA_ERR_MODEL_REJECTED', status: 400, message: asGiven },
  /** A promote or rollback the deployment's state does not allow (already active, not installed, ...). */
  MODEL_DEPLOY: { code: 'EVA_ERR_MODEL_DEPLOY', status: 409, message: asGiven },
  /** A promotion by hand a candidate's shadow evidence does not support (a promotion gate failed). */
  MODEL_GATE: { code: 'EVA_ERR_MODEL_GATE', status: 409, message: asGiven },
  MODEL_UNKNOWN: {
    code: 'EVA_ERR_MODEL_UNKNOWN',
    status: 400,
    message: ({ model, known }: { model: string; known: readonly string[] }) =>
      `unknown model ${quote(model)}; known: ${known.join(', ')}`,
  },
  INFERENCE_FAILED: { code: 'EVA_ERR_INFERENCE_FAILED', status: 500, message: asGiven },
  WORKER_DIED: { code: 'EVA_ERR_WORKER_DIED', status: 500, message: asGiven },

  // cameras: a camera is the agent's upstream, so what it sends wrong is a 502 and its silence a 504
  FRAME_DECODE: { code: 'EVA_ERR_FRAME_DECODE', status: 502, message: asGiven },
  CAMERA_TIMEOUT: { code: 'EVA_ERR_CAMERA_TIMEOUT', status: 504, message: asGiven },
  /** The camera could not be reached, refused us, or answered with something that is not a usable frame. */
  CAMERA_SOURCE: { code: 'EVA_ERR_CAMERA_SOURCE', status: 502, message: asGiven },
  /** A trigger for a camera that is disabled (`camera/enable false`) or stopping: not now, not never. */
  CAMERA_DISABLED: {
    code: 'EVA_ERR_CAMERA_DISABLED',
    status: 409,
    message: ({ camera, state }: { camera: string; state: 'disabled' | 'stopped' }) =>
      `camera ${camera} is ${state}`,
  },
  CAMERA_UNKNOWN: {
    code: 'EVA_ERR_CAMERA_UNKNOWN',
    status: 400,
    message: ({ camera, known }: { camera: string; known: readonly string[] }) =>
      `unknown camera ${quote(camera)}; known: ${known.join(', ')}`,
  },

  // the line's PLC (Modbus TCP), upstream like a camera
  PLC_IO: {
    code: 'EVA_ERR_PLC_IO',
    status: 502,
    message: ({ op, detail }: { op: string; detail: string }) => `PLC ${op}: ${detail}`,
  },

  // recipes (product changeover; docs/recipes.md)
  RECIPE_UNKNOWN: {
    code: 'EVA_ERR_RECIPE_UNKNOWN',
    status: 400,
    message: ({ recipe, known }: { recipe: string | number; known: readonly string[] }) =>
      `unknown recipe ${typeof recipe === 'number' ? `number ${recipe}` : `"${recipe}"`}; known: ${known.join(', ')}`,
  },
  /** A changeover refused because a model the recipe needs is not loaded and cannot be: nothing changed. */
  RECIPE_MODEL_UNAVAILABLE: {
    code: 'EVA_ERR_RECIPE_MODEL_UNAVAILABLE',
    status: 409,
    message: ({ recipe, model, why }: { recipe: string; model: string; why: string }) =>
      `recipe ${recipe} refused: model ${model} ${why}; the active recipe is unchanged`,
  },
  /** Recipes cannot be switched right now (the agent is starting or stopping, or changeovers queue up). */
  RECIPE_BUSY: { code: 'EVA_ERR_RECIPE_BUSY', status: 503, message: asGiven },

  // the OPC UA server (docs/opcua.md)
  OPCUA_START: { code: 'EVA_ERR_OPCUA_START', status: 500, message: asGiven },

  // the store
  STORE_OPEN: { code: 'EVA_ERR_STORE_OPEN', status: 500, message: asGiven },
  STORE_WRITE: { code: 'EVA_ERR_STORE_WRITE', status: 500, message: asGiven },
  STORE_FULL: { code: 'EVA_ERR_STORE_FULL', status: 507, message: asGiven },
  /** A write the store refuses for another reason than space: an I/O error, an immutable or read-only file. */
  STORE_UNWRITABLE: { code: 'EVA_ERR_STORE_UNWRITABLE', status: 503, message: asGiven },

  // drift monitoring (docs/drift.md)
  /** `drift/baseline` or `GET /api/drift` while agent.yaml has no `drift` section. */
  DRIFT_NOT_CONFIGURED: {
    code: 'EVA_ERR_DRIFT_NOT_CONFIGURED',
    status: 409,
    message: () => 'drift monitoring is not configured: add a drift section to agent.yaml (docs/drift.md)',
  },
  /** A baseline that cannot be built from what was given (no or too few usable images, a model that fails). */
  DRIFT_BASELINE: { code: 'EVA_ERR_DRIFT_BASELINE', status: 400, message: asGiven },

  // the broker
  MQTT_PUBLISH_TIMEOUT: { code: 'EVA_ERR_MQTT_PUBLISH_TIMEOUT', status: 504, message: asGiven },
  MQTT_CONNECT: { code: 'EVA_ERR_MQTT_CONNECT', status: 503, message: asGiven },

  // requests (R/request/<name> and POST /api/<name>)
  REQUEST_MALFORMED: {
    code: 'EVA_ERR_REQUEST_MALFORMED',
    status: 400,
    message: (parseError: string) => `malformed JSON: ${parseError}`,
  },
  REQUEST_TOO_DEEP: {
    code: 'EVA_ERR_REQUEST_TOO_DEEP',
    status: 400,
    message: (maxDepth: number) =>
      `the request nests deeper than ${maxDepth} levels; a request is a flat JSON object`,
  },
  /** No request by that name: over HTTP, `POST /api/<name>` names no resource. */
  REQUEST_UNKNOWN: {
    code: 'EVA_ERR_REQUEST_UNKNOWN',
    status: 404,
    message: ({ name, known }: { name: string; known: readonly string[] }) =>
      `unknown request ${quote(name)}; known: ${known.join(', ')}`,
  },
  REQUEST_INVALID: {
    code: 'EVA_ERR_REQUEST_INVALID',
    status: 400,
    message: ({ name, problems }: { name: string; problems: string }) =>
      `invalid ${name} request: ${problems}`,
  },
  REQUEST_RETAINED: {
    code: 'EVA_ERR_REQUEST_RETAINED',
    status: 400,
    message: () =>
      'retained requests are not executed (they would run again on every restart): publish without retain, ' +
      'and clear this one with an empty retained message',
  },
  DECISION_UNKNOWN: {
    code: 'EVA_ERR_DECISION_UNKNOWN',
    status: 400,
    message: (decisionId: string) => `unknown decision ${quote(decisionId)}: nothing recorded`,
  },
  UNAUTHORISED: { code: 'EVA_ERR_UNAUTHORISED', status: 401, message: () => 'missing or wrong bearer token' },
  TOKEN_NOT_CONFIGURED: {
    code: 'EVA_ERR_TOKEN_NOT_CONFIGURED',
    status: 401,
    message: () => 'no health.token configured: state-changing calls are refused',
  },

  // HTTP
  QUERY_INVALID: {
    code: 'EVA_ERR_QUERY_INVALID',
    status: 400,
    message: (problems: readonly string[]) => problems.join('; '),
  },
  DECISION_NOT_FOUND: {
    code: 'EVA_ERR_DECISION_NOT_FOUND',
    status: 404,
    message: (id: string) => `no decision ${id.length > MAX_QUOTE_CHARS ? quote(id) : id}`,
  },
  IMAGE_NOT_FOUND: {
    code: 'EVA_ERR_IMAGE_NOT_FOUND',
    status: 404,
    message: ({ id, kind, reason }: { id: string; kind: string; reason: string }) =>
      `no ${kind} image for decision ${id}: ${reason}`,
  },
  NOT_FOUND: {
    code: 'EVA_ERR_NOT_FOUND',
    status: 404,
    message: ({ method, url }: { method: string; url: string }) => `no route ${method} ${url}`,
  },
  UPLOAD_INVALID: { code: 'EVA_ERR_UPLOAD_INVALID', status: 400, message: asGiven },
  /** A URL naming a camera that is not configured (`/api/cameras/:id/...`). */
  CAMERA_NOT_FOUND: {
    code: 'EVA_ERR_CAMERA_NOT_FOUND',
    status: 404,
    message: ({ camera, known }: { camera: string; known: readonly string[] }) =>
      `no camera "${camera}"; known: ${known.join(', ')}`,
  },
  /** The camera has no frame to show yet (snapshot, judged frame), or could not give one in time. */
  FRAME_UNAVAILABLE: { code: 'EVA_ERR_FRAME_UNAVAILABLE', status: 503, message: asGiven },
  /** More live streams (server-sent events, MJPEG) than the agent keeps open at once. */
  STREAMS_BUSY: {
    code: 'EVA_ERR_STREAMS_BUSY',
    status: 503,
    message: ({ what, limit }: { what: string; limit: number }) =>
      `${limit} ${what} are open already, the most the agent serves at once: close one (another tab or panel) and retry`,
  },
  /** `GET /` on an install whose page was not built (`npm run build` writes dist/web). */
  PAGE_NOT_BUILT: { code: 'EVA_ERR_PAGE_NOT_BUILT', status: 503, message: asGiven },
  /** A dataset archive (`model validate --dataset`) that cannot be read: not a zip, no manifest, too big. */
  DATASET_INVALID: { code: 'EVA_ERR_DATASET_INVALID', status: 400, message: asGiven },
  BODY_TOO_LARGE: { code: 'EVA_ERR_BODY_TOO_LARGE', status: 413, message: asGiven },
  MEDIA_TYPE_UNSUPPORTED: { code: 'EVA_ERR_MEDIA_TYPE_UNSUPPORTED', status: 415, message: asGiven },
  /** Any other request fastify refuses before a route sees it (an invalid Content-Length, ...). */
  HTTP_INVALID: { code: 'EVA_ERR_HTTP_INVALID', status: 400, message: asGiven },

  /** Something failed that has no code of its own (a bug, or a library's error): the message says what. */
  INTERNAL: { code: 'EVA_ERR_INTERNAL', status: 500, message: asGiven },
});

export type ErrorName = keyof typeof errorTable;
export type ErrorCode = (typeof errorTable)[ErrorName]['code'];

/** Each name's code: `ErrorCodes.CAMERA_TIMEOUT === 'EVA_ERR_CAMERA_TIMEOUT'`. */
export const ErrorCodes = Object.freeze(
  Object.fromEntries(Object.entries(errorTable).map(([name, spec]) => [name, spec.code])),
) as { readonly [N in ErrorName]: (typeof errorTable)[N]['code'] };

const specs = new Map<string, ErrorSpec>(Object.values(errorTable).map((spec) => [spec.code, spec]));

/** The HTTP status an error with this code answers with. */
export function httpStatusOf(code: ErrorCode): ErrorStatus {
  return specs.get(code)?.status ?? 500;
}

export class AgentError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
    this.code = code;
  }

  /** Whether the caller is at fault (4xx): answered and counted, not logged as the agent's failure. */
  get callerFault(): boolean {
    return httpStatusOf(this.code) < 500;
  }
}

type TemplateArgs<N extends ErrorName> = Parameters<(typeof errorTable)[N]['message']>;
type ErrorArgs<N extends ErrorName> =
  TemplateArgs<N> extends []
    ? [options?: { cause?: unknown }]
    : [params: TemplateArgs<N>[0], options?: { cause?: unknown }];

/**
 * The error `name` stands for, its message written by the table's template:
 * `agentError('CAMERA_UNKNOWN', { camera, known })`, `agentError('UNAUTHORISED')`,
 * `agentError('PLC_IO', { op, detail }, { cause: err })`.
 */
export function agentError<N extends ErrorName>(name: N, ...args: ErrorArgs<N>): AgentError {
  const spec: ErrorSpec = errorTable[name];
  const render = spec.message as (params?: unknown) => string;
  // a template without parameters takes the options first (its arity is the table's, never a default value)
  const [params, options] = render.length === 0 ? [undefined, args[0]] : args;
  return new AgentError(spec.code as ErrorCode, render(params), options as { cause?: unknown } | undefined);
}

/** The message of anything thrown, for reasons and responses (never `[object Object]`). */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
