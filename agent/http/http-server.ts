import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type AgentError, agentError, httpStatusOf } from '../errors.js';
import type { Readiness } from '../health/index.js';
import type { Service } from '../service.js';
import type { ImageKind, ImageLookup } from '../store/index.js';
import type { RequestResponse } from '../sync/index.js';
import { type AuditDeps, registerAuditRoutes } from './audit-routes.js';
import { registerDriftRoute } from './drift-route.js';
import { answerErrorsWithCodes } from './http-errors.js';
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
  /**
   * `GET /api/drift` (docs/drift.md): the latest drift report per camera and a bounded history; absent =
   * the route answers `{"enabled": false}`. Throws a coded error for an unknown camera.
   */
  drift?: (query: { camera?: string; limit?: number }) => unknown;
  /** Where failures of the agent's own (HTTP 5xx) are logged; absent = not logged. */
  log?: Logger;
}

/**
 * The HTTP surface (CONTRACT section 4). `buildHttpApp` never listens, so tests drive it with `inject()`.
 * `/healthz` touches nothing but the event loop: if it answers, the process serves. Every error answers
 * `{status: "error", code, error}` under the HTTP status of its code (agent/errors.ts).
 */
export function buildHttpApp(deps: HttpDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
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

  if (deps.installModel) {
    registerModelUpload(app, deps.installModel, (header) => refusalOf(header, deps.token));
  }

  // requests keep their body as text (an encapsulated parser, so other routes are untouched): malformed
  // JSON is then answered in the request shape and logged like any other request, not refused by fastify
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.post<{ Params: { '*': string }; Body: string | undefined }>('/api/*', async (req, reply) => {
      const name = req.params['*'];
      const text = typeof req.body === 'string' ? req.body : '';
      const refusal = refusalOf(req.headers.authorization, deps.token);
      const response = refusal ? deps.refused(name, text, refusal) : await deps.request(name, text);
      return reply.code(response.status === 'ok' ? 200 : httpStatusOf(response.code)).send(response);
    });
  });

  return app;
}

/** Why a state-changing call is refused (401), or undefined when its bearer token is the configured one. */
function refusalOf(header: string | undefined, token: string | undefined): AgentError | undefined {
  if (!token) return agentError('TOKEN_NOT_CONFIGURED');
  if (!header?.startsWith('Bearer ')) return agentError('UNAUTHORISED');
  const given = Buffer.from(header.slice('Bearer '.length));
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected)
    ? undefined
    : agentError('UNAUTHORISED');
}

/** Listens on `health.listen`; stop closes it, bounded by the service stop timeout. */
export class HttpServer implements Service {
  readonly name = 'http';
  constructor(
    private readonly app: FastifyInstance,
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
