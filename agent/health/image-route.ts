import type { FastifyInstance } from 'fastify';
// the store's own kinds and answer: a kind added there is served here, never refused as unknown
import { IMAGE_KINDS, type ImageKind, type ImageLookup } from '../store/index.js';

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
        return reply
          .code(400)
          .send({ status: 'error', error: `kind must be one of ${IMAGE_KINDS.join(', ')}` });
      }
      const answer = image(req.params.id, kind);
      if (!answer.found) {
        return reply.code(404).send({
          status: 'error',
          error: `no ${kind} image for decision ${req.params.id}: ${answer.reason}`,
        });
      }
      return reply
        .type(answer.contentType)
        .header('etag', `"${answer.sha256}"`)
        .header('cache-control', 'private, max-age=31536000, immutable')
        .send(answer.data);
    },
  );
}
