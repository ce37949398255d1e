import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import {
  HTTP_HEADERS_TIMEOUT_MS,
  HTTP_KEEP_ALIVE_TIMEOUT_MS,
  HTTP_MAX_CONNECTIONS,
  HTTP_MAX_UPLOAD_MB,
  HTTP_REQUEST_TIMEOUT_MS,
} from '../config/index.js';
import { AgentError, agentError, ErrorCodes, httpStatusOf, quote } from '../errors.js';
import type { Readiness } from '../health/index.js';
import type { Service } from '../service.js';
import type { ImageKind, ImageLookup, RequestLogEntry } from '../store/index.js';
import type { RequestResponse } from '../sync/index.js';
import { type AuditDeps, registerAuditRoutes } from './audit-routes.js';
import { type DatasetDeps, registerDatasetRoute } from './dataset-route.js';
import { registerDriftRoute } from './drift-route.js';
import { answerErrorsWithCodes, sendError } from './http-errors.js';
import { registerImageRoute } from './image-route.js';
import { type InstallModel, registerModelUpload } from './model-upload.js';

export interface HttpDeps {
  status: () => unknown;
  readiness: () => Readiness;
  metrics: () => Promise<{ contentType: string; body: string }>;
  decisions: AuditDeps;
  /** A request as received over HTTP: the body as text (parsed, validated and logged by the router). */
  request: (name: string, body: string) => Promise<RequestResponse>;
  /** A request refused before it was read (no valid token, `why`): logged, and answered with this. */
  refused: (name: string, body: string, why: AgentError) => RequestResponse;
  /** A decision's stored image (`GET /api/decisions/:id/image`); absent = every image answers 404. */
  image?: (id: string, kind: ImageKind) => ImageLookup;
  /** Bearer token for state-changing calls; none configured = they are all refused. */
  token: string | undefined;
  /** `POST /api/model/install` (multipart upload of a model version); absent = no upload route. */
  installModel?: InstallModel;
  /** `GET /api/dataset/export` (bearer token); absent = no such route. */
  dataset?: DatasetDeps;
  /** Where requests answered outside the request router (the model upload) are logged. */
  journal?: (entry: RequestLogEntry) => void;
  /**
   * `GET /api/drift` (docs/drift.md): the latest drift report per camera and a bounded history; absent =
   * the route answers `{"enabled": false}`. Throws a coded error for an unknown camera.
   */
  drift?: (query: { camera?: string; limit?: number }) => unknown;
  /** Where failures of the agent's own (HTTP 5xx) are logged; absent = not logged. */
  log?: Logger;
  /** More routes, registered by their owners (the technician page: agent/page). */
  routes?: readonly RouteSet[];
  /** Connection, time and upload limits (health.* in agent.yaml); absent ones take the config defaults. */
  limits?: Partial<HttpLimits>;
  /** Where model uploads are staged (default: the OS's tmpdir). */
  uploadDir?: string;
}

/** What one client may take of the server: sockets, time to send a request, bytes of an upload. */
export interface HttpLimits {
  maxConnections: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxUploadBytes: number;
}

/** The request bodies the JSON requests take (the upload route has its own limit). */
const BODY_LIMIT = 1024 * 1024;

function limitsOf(given: Partial<HttpLimits> = {}): HttpLimits {
  return {
    maxConnections: given.maxConnections ?? HTTP_MAX_CONNECTIONS,
    headersTimeoutMs: given.headersTimeoutMs ?? HTTP_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: given.requestTimeoutMs ?? HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: given.keepAliveTimeoutMs ?? HTTP_KEEP_ALIVE_TIMEOUT_MS,
    maxUploadBytes: given.maxUploadBytes ?? HTTP_MAX_UPLOAD_MB * 1024 * 1024,
  };
}

/** Routes another part registers on the app (read-only ones: state changes go through `POST /api/<name>`). */
export type RouteSet = (app: FastifyInstance) => void;

/**
 * The HTTP surface (CONTRACT section 4). `buildHttpApp` never listens, so tests drive it with `inject()`.
 * `/healthz` touches nothing but the event loop: if it answers, the process serves. Every error answers
 * `{status: "error", code, error}` under the HTTP status of its code (agent/errors.ts).
 */
export function buildHttpApp(deps: HttpDeps): FastifyInstance {
  const limits = limitsOf(deps.limits);
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // how often Node looks for requests past those timeouts: well within the shortest one
      connectionsCheckingInterval: Math.min(1_000, Math.ceil(limits.headersTimeoutMs / 4)),
    },
  });
  guardSockets(app, limits);
  answerErrorsWithCodes(app, deps.log);

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const r = deps.readiness();
    if (r.ready) return { status: 'ready' };
    return reply.code(503).send({ status: 'unready', reasons: r.reasons });
  });

  app.get('/api/status', async () => deps.status());

  app.get('/metrics', async (_req, reply) => {
    const m = await deps.metrics();
    return reply.type(m.contentType).send(m.body);
  });

  registerAuditRoutes(app, deps.decisions);
  registerDriftRoute(app, deps.drift);
  registerImageRoute(app, deps.image ?? (() => ({ found: false, reason: 'images are not stored' })));

  // extension: whether a bearer token is the right one, without doing anything; the page signs a
  // technician in with it (GET: it changes nothing, so a wrong guess costs nothing but a 401)
  app.get('/api/auth', async (req, reply) => {
    const refusal = refusalOf(req.headers.authorization, deps.token);
    if (refusal) return sendError(reply, refusal);
    return { status: 'ok' };
  });

  for (const register of deps.routes ?? []) register(app);

  if (deps.installModel) {
    registerModelUpload(app, deps.installModel, {
      refusalOf: (header) => refusalOf(header, deps.token),
      maxFileBytes: limits.maxUploadBytes,
      ...(deps.uploadDir ? { uploadDir: deps.uploadDir } : {}),
      ...(deps.journal ? { journal: deps.journal } : {}),
    });
  }

  if (deps.dataset) {
    registerDatasetRoute(app, deps.dataset, (header) => refusalOf(header, deps.token), deps.log);
  }

  // requests keep their body as text (an encapsulated parser, so other routes are untouched): malformed
  // JSON is then answered in the request shape and logged like any other request, not refused by fastify
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    // the token first, before any byte of the body is read or its Content-Type parsed: whoever has no token
    // gets 401 whatever they send, and an unparsable Content-Type from a caller with one is answered 415 in
    // the request shape and written to the request log (fastify would refuse it before any hook saw it)
    scope.addHook('onRequest', async (req: FastifyRequest<{ Params: { '*': string } }>, reply) => {
      const name = req.params['*'] ?? '';
      const refusal = refusalOf(req.headers.authorization, deps.token) ?? mediaTypeRefusal(req);
      if (refusal) return answer(reply, deps.refused(name, '', refusal));
      return undefined;
    });
    scope.post<{ Params: { '*': string }; Body: string | undefined }>('/api/*', async (req, reply) => {
      const name = req.params['*'];
      const text = typeof req.body === 'string' ? req.body : '';
      return answer(reply, await deps.request(name, text));
    });
  });

  return app;
}

function answer(reply: FastifyReply, response: RequestResponse): FastifyReply {
  return reply.code(response.status === 'ok' ? 200 : httpStatusOf(response.code)).send(response);
}

/**
 * Sockets are a bounded resource: at most `maxConnections` at once (Node drops the rest as they come), and a
 * connection must start its request within `headersTimeoutMs` (Node itself times out headers that trickle
 * in, but not a socket that sends nothing at all). While a request is handled its socket has no idle
 * timeout (a model install may take minutes to answer); Node's keep-alive timeout covers it afterwards.
 */
function guardSockets(app: FastifyInstance, limits: HttpLimits): void {
  const server = app.server;
  server.maxConnections = limits.maxConnections;
  server.on('connection', (socket) => {
    socket.setTimeout(limits.headersTimeoutMs);
    socket.on('timeout', () => socket.destroy());
  });
  server.on('request', (req) => req.socket.setTimeout(0));
}

/** A request body's Content-Type that cannot be parsed (fastify answers it 415 before any route). */
function mediaTypeRefusal(req: FastifyRequest): AgentError | undefined {
  const header = req.headers['content-type'];
  if (header === undefined || req.mediaType !== undefined) return undefined;
  return new AgentError(
    ErrorCodes.MEDIA_TYPE_UNSUPPORTED,
    `Content-Type ${quote(header)} cannot be parsed; send application/json (or none)`,
  );
}

/**
 * Why a state-changing call is refused (401), or undefined when its bearer token is the configured one. The
 * token is compared as SHA-256 digests with timingSafeEqual: equal lengths whatever was sent, so neither the
 * token's length nor how much of it a guess got right shows in the time the answer takes.
 */
export function refusalOf(header: string | undefined, token: string | undefined): AgentError | undefined {
  if (!token) return agentError('TOKEN_NOT_CONFIGURED');
  if (!header?.startsWith('Bearer ')) return agentError('UNAUTHORISED');
  return timingSafeEqual(digest(header.slice('Bearer '.length)), digest(token))
    ? undefined
    : agentError('UNAUTHORISED');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Listens on `health.listen`; stop closes it, bounded by the service stop timeout. */
export class HttpServer implements Service {
  readonly name = 'http';
  constructor(
    /** The fastify app (tests list its routes). */
    readonly app: FastifyInstance,
    private readonly listen: string,
    private readonly log: Logger,
  ) {}

  get port(): number {
    const address = this.app.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  async start(): Promise<void> {
    const cut = this.listen.lastIndexOf(':');
    const host = this.listen.slice(0, cut) || '0.0.0.0';
    const port = Number(this.listen.slice(cut + 1));
    await this.app.listen({ host, port });
    this.log.info({ host, port: this.port }, 'health server listening');
  }

  async stop(): Promise<void> {
    await this.app.close();
  }
}
