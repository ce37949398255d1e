import { PassThrough, type Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type AgentError, agentError } from '../errors.js';
import { sendError } from './http-errors.js';
import { QueryReader } from './query-reader.js';

/** What the route needs of the dataset side: which cameras exist, and the export itself (streamed). */
export interface DatasetDeps {
  cameras: () => readonly string[];
  export: (req: { cameraId: string; since?: number; limit?: number }, out: Writable) => Promise<unknown>;
}

/**
 * `GET /api/dataset/export?camera=ID&since=DATE&limit=N` (bearer token: the frames are the plant's):
 * the same archive as `edge-agent dataset export`, streamed as it is written (application/zip). Problems
 * with the query answer 400 before anything is sent; a failure mid-stream ends the connection, so a client
 * never mistakes a cut archive for a whole one (its central directory is missing).
 */
export function registerDatasetRoute(
  app: FastifyInstance,
  deps: DatasetDeps,
  refusalOf: (header: string | undefined) => AgentError | undefined,
  log?: Logger,
): void {
  app.get('/api/dataset/export', async (req, reply) => {
    const refusal = refusalOf(req.headers.authorization);
    if (refusal) return sendError(reply, refusal);
    const query = req.query as Record<string, unknown>;
    const q = new QueryReader(query, ['camera', 'since', 'limit']);
    const camera = q.text('camera', 64);
    const limit = q.integer('limit', 1, 20_000, 'an integer from 1 to 20000');
    const sinceText = q.text('since', 40);
    let since: number | undefined;
    if (sinceText !== undefined) {
      since = Date.parse(sinceText);
      if (!/^\d{4}-\d{2}-\d{2}/.test(sinceText) || Number.isNaN(since)) {
        q.errors.push(
          `since must be an ISO 8601 date or time (2025-11-20, 2025-11-20T06:00:00Z), got ${JSON.stringify(sinceText)}`,
        );
      }
    }
    if (camera === undefined && !q.errors.some((e) => e.startsWith('camera')))
      q.errors.push('camera is required');
    if (q.errors.length) return sendError(reply, agentError('QUERY_INVALID', q.errors));
    const known = deps.cameras();
    if (!known.includes(camera as string)) {
      return sendError(reply, agentError('CAMERA_UNKNOWN', { camera: camera as string, known }));
    }
    const stream = new PassThrough();
    const name = `${camera}-${new Date().toISOString().replace(/[:.]/g, '-')}.zip`;
    deps
      .export(
        {
          cameraId: camera as string,
          ...(since !== undefined ? { since } : {}),
          ...(limit !== undefined ? { limit } : {}),
        },
        stream,
      )
      .catch((err: unknown) => {
        log?.error({ err }, 'dataset export failed mid-stream');
        stream.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    return reply
      .type('application/zip')
      .header('content-disposition', `attachment; filename="${name}"`)
      .send(stream);
  });
}
