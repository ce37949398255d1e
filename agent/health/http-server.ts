import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Decision } from '../decision/index.js';
import type { Service } from '../service.js';
import type { RequestResponse } from '../sync/index.js';
import { type InstallModel, registerModelUpload } from './model-upload.js';

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

export interface HttpDeps {
  status: () => unknown;
  readiness: () => Readiness;
  metrics: () => Promise<{ contentType: string; body: string }>;
  decisions: {
    list: (filter: { camera?: string; verdict?: string; limit: number }) => Decision[];
    get: (id: string) => Decision | undefined;
  };
  request: (name: string, body: unknown) => Promise<RequestResponse>;
  /** Bearer token for state-changing calls; none configured = they are all refused. */
  token: string | undefined;
  /** `POST /api/model/install` (multipart upload of a model version); absent = no upload route. */
  installModel?: InstallModel;
}

/**
 * The HTTP surface (CONTRACT section 4). `buildHttpApp` never listens, so tests drive it with `inject()`.
 * `/healthz` touches nothing but the event loop: if it answers, the process serves.
 */
export function buildHttpApp(deps: HttpDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });

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

  app.get<{ Querystring: { camera?: string; verdict?: string; limit?: string } }>(
    '/api/decisions',
    async (req, reply) => {
      const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        return reply.code(400).send({ status: 'error', error: 'limit must be an integer from 1 to 1000' });
      }
      return {
        decisions: deps.decisions.list({
          ...(req.query.camera ? { camera: req.query.camera } : {}),
          ...(req.query.verdict ? { verdict: req.query.verdict } : {}),
          limit,
        }),
      };
    },
  );

  app.get<{ Params: { id: string } }>('/api/decisions/:id', async (req, reply) => {
    const decision = deps.decisions.get(req.params.id);
    if (!decision) return reply.code(404).send({ status: 'error', error: `no decision ${req.params.id}` });
    return decision;
  });

  if (deps.installModel) {
    registerModelUpload(app, deps.installModel, (header) => authorised(header, deps.token));
  }

  app.post<{ Params: { '*': string } }>('/api/*', async (req, reply) => {
    if (!authorised(req.headers.authorization, deps.token)) {
      return reply.code(401).send({
        status: 'error',
        error: deps.token
          ? 'missing or wrong bearer token'
          : 'no health.token configured: state-changing calls are refused',
      });
    }
    const response = await deps.request(req.params['*'], req.body ?? {});
    return reply.code(response.status === 'ok' ? 200 : 400).send(response);
  });

  return app;
}

function authorised(header: string | undefined, token: string | undefined): boolean {
  if (!token || !header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length));
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
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
