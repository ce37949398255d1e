import type { FastifyInstance } from 'fastify';
import { agentError } from '../errors.js';
// the store's own kinds and answer: a kind added there is served here, never refused as unknown
import { IMAGE_KINDS, type ImageKind, type ImageLookup } from '../store/index.js';
import { sendError } from './http-errors.js';

/**
 * `GET /api/decisions/:id/image[?kind=frame|annotated|anomaly-map]`: the stored frame (JPEG, the
 * default), the annotated copy (JPEG) or the anomaly heat map (PNG); 404 with the reason when not kept.
 * Files are content-addressed and never change, so they may be cached forever (the ETag is the sha256).
 */
export function registerImageRoute(
  app: FastifyInstance,
  image: (id: string, kind: ImageKind) => ImageLookup,
): void {
  app.get<{ Params: { id: string }; Querystring: { kind?: string } }>(
    '/api/decisions/:id/image',
    async (req, reply) => {
      const kind = (req.query.kind ?? 'frame') as ImageKind;
      if (!IMAGE_KINDS.includes(kind)) {
        return sendError(
          reply,
          agentError('QUERY_INVALID', [`kind must be one of ${IMAGE_KINDS.join(', ')}`]),
        );
      }
      const answer = image(req.params.id, kind);
      if (!answer.found) {
        return sendError(
          reply,
          agentError('IMAGE_NOT_FOUND', { id: req.params.id, kind, reason: answer.reason }),
        );
      }
      return reply
        .type(answer.contentType)
        .header('etag', `"${answer.sha256}"`)
        .header('cache-control', 'private, max-age=31536000, immutable')
        .send(answer.data);
    },
  );
}
