import type { FastifyInstance } from 'fastify';
import { agentError } from '../errors.js';
import { sendError } from './http-errors.js';
import { QueryReader } from './query-reader.js';

/** History entries at most per camera in one answer (each is a window's summary, ~1 kB). */
export const DRIFT_HISTORY_MAX = 500;

/**
 * `GET /api/drift` (CONTRACT section 4): the latest drift report per camera and a bounded history, for the
 * technician page and scripts. `camera` narrows it to one camera, `limit` sets the history's length.
 */
export function registerDriftRoute(
  app: FastifyInstance,
  drift: ((query: { camera?: string; limit?: number }) => unknown) | undefined,
): void {
  app.get('/api/drift', async (req, reply) => {
    const q = new QueryReader(req.query as Record<string, unknown>, ['camera', 'limit']);
    const camera = q.text('camera');
    const limit = q.integer('limit', 1, DRIFT_HISTORY_MAX, `an integer from 1 to ${DRIFT_HISTORY_MAX}`);
    if (q.errors.length) return sendError(reply, agentError('QUERY_INVALID', q.errors));
    if (!drift) return { enabled: false, cameras: [] };
    return drift({ ...(camera !== undefined ? { camera } : {}), ...(limit !== undefined ? { limit } : {}) });
  });
}
