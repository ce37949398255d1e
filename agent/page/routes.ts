import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AgentError, agentError, ErrorCodes } from '../errors.js';
import { sendError } from '../http/index.js';
import { type Clock, sleep } from '../service.js';
import type { Asset, PageAssets } from './assets.js';
import type { FocusMeter } from './focus-meter.js';
import type { JudgedFrames } from './judged-frames.js';
import { type LiveEvents, MAX_EVENT_CLIENTS } from './live-events.js';
import type { Snapshots } from './snapshots.js';

export interface PageDeps {
  assets: PageAssets;
  live: LiveEvents;
  snapshots: Snapshots;
  judged: JudgedFrames;
  clock: Clock;
  log: Logger;
}

/** MJPEG streams open at once, all cameras together: each is a frame every 1/fps s to a slow client. */
export const MAX_MJPEG_STREAMS = 8;
const DEFAULT_STREAM_FPS = 2;
const MAX_STREAM_FPS = 5;
/** A stream client with this much unsent skips frames until it catches up. */
const STREAM_MAX_BUFFERED = 2 * 1024 * 1024;
const BOUNDARY = 'eva-frame';

/**
 * Everything the page serves itself: the technician page is everything, loaded from the agent, nothing
 * from a CDN; its scripts may only talk to the agent.
 */
const CSP = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/**
 * The technician page's routes (docs/page.md), registered on the agent's HTTP app: `GET /` and its
 * assets, the live updates (`/api/events`), and per camera the aiming snapshot, an MJPEG stream of it and
 * the last judged frame, annotated. All read-only: the page changes things only through the same
 * `POST /api/<request>` calls as everyone else, with the bearer token.
 */
export function pageRoutes(deps: PageDeps): (app: FastifyInstance) => void {
  let streams = 0;
  return (app) => {
    app.get('/', async (req, reply) => {
      const index = deps.assets.get('index.html');
      if (!index) {
        return sendError(
          reply,
          agentError(
            'PAGE_NOT_BUILT',
            'the technician page is not built: run `npm run build` (it writes dist/web/); the API works without it',
          ),
        );
      }
      return sendAsset(req, reply.header('content-security-policy', CSP), index);
    });

    app.get<{ Params: { file: string } }>('/assets/:file', async (req, reply) => {
      const asset = deps.assets.get(req.params.file);
      if (!asset)
        return sendError(
          reply,
          agentError('NOT_FOUND', { method: 'GET', url: `/assets/${req.params.file.slice(0, 100)}` }),
        );
      return sendAsset(req, reply, asset);
    });

    app.get('/api/events', async (req, reply) => {
      if (deps.live.full) {
        return sendError(
          reply,
          agentError('STREAMS_BUSY', { what: 'live update streams', limit: MAX_EVENT_CLIENTS }),
        );
      }
      reply.hijack();
      deps.live.attach(reply.raw);
      req.raw.on('error', () => reply.raw.destroy());
    });

    app.get<{ Params: { id: string } }>('/api/cameras/:id/snapshot', async (req, reply) => {
      const shot = await answered(reply, deps.snapshots.get(req.params.id));
      if (!shot) return reply;
      return meterHeaders(reply, shot.meter)
        .type('image/jpeg')
        .header('cache-control', 'no-store')
        .header('x-eva-captured-at', String(shot.capturedAt))
        .send(shot.jpeg);
    });

    app.get<{ Params: { id: string } }>('/api/cameras/:id/judged', async (req, reply) => {
      const judged = await answered(reply, deps.judged.get(req.params.id));
      if (!judged) return reply;
      return reply
        .type('image/jpeg')
        .header('cache-control', 'no-store')
        .header('x-eva-seq', String(judged.decision.seq))
        .header('x-eva-decision-id', judged.decision.id)
        .header('x-eva-verdict', judged.decision.verdict)
        .send(judged.jpeg);
    });

    app.get<{ Params: { id: string }; Querystring: { fps?: string } }>(
      '/api/cameras/:id/stream',
      async (req, reply) => {
        const fps = req.query.fps === undefined ? DEFAULT_STREAM_FPS : Number(req.query.fps);
        if (!Number.isInteger(fps) || fps < 1 || fps > MAX_STREAM_FPS) {
          return sendError(
            reply,
            agentError('QUERY_INVALID', [
              `fps must be an integer from 1 to ${MAX_STREAM_FPS}, got ${JSON.stringify(req.query.fps).slice(0, 40)}`,
            ]),
          );
        }
        if (streams >= MAX_MJPEG_STREAMS) {
          return sendError(
            reply,
            agentError('STREAMS_BUSY', { what: 'camera streams', limit: MAX_MJPEG_STREAMS }),
          );
        }
        // the first frame decides the answer: an unknown camera or one without a frame is an error, not a
        // stream that never shows anything
        const first = await answered(reply, deps.snapshots.get(req.params.id));
        if (!first) return reply;
        streams += 1;
        reply.hijack();
        const res = reply.raw;
        const closed = new AbortController();
        res.on('close', () => closed.abort(new Error('client went away')));
        res.writeHead(200, {
          'content-type': `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
          'cache-control': 'no-store',
          connection: 'close',
        });
        void streamFrames(req, res, deps, req.params.id, fps, first, closed.signal).finally(() => {
          streams -= 1;
          res.end();
        });
      },
    );
  };
}

async function streamFrames(
  req: FastifyRequest,
  res: FastifyReply['raw'],
  deps: PageDeps,
  cameraId: string,
  fps: number,
  first: Awaited<ReturnType<Snapshots['get']>>,
  signal: AbortSignal,
): Promise<void> {
  let shot = first;
  let lastSent: Buffer | undefined;
  while (!signal.aborted) {
    if (shot.jpeg !== lastSent && res.writableLength < STREAM_MAX_BUFFERED) {
      const head =
        `--${BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${shot.jpeg.length}\r\n` +
        `X-Eva-Captured-At: ${shot.capturedAt}\r\nX-Eva-Sharpness: ${shot.meter.sharpness}\r\n` +
        `X-Eva-Exposure: ${shot.meter.exposure.mean}\r\n\r\n`;
      res.write(head);
      res.write(shot.jpeg);
      res.write('\r\n');
      lastSent = shot.jpeg;
    }
    try {
      await sleep(1000 / fps, signal, deps.clock);
      shot = await deps.snapshots.get(cameraId);
    } catch (err) {
      if (signal.aborted) return;
      // the camera went away mid-stream: keep the stream, show the last frame, try again next tick
      deps.log.debug({ err, cameraId, url: req.url }, 'stream frame unavailable');
    }
  }
}

/**
 * `work`'s value, or undefined once its expected refusals (an unknown camera, no frame yet) are answered:
 * those are states a page polls through, not failures of the agent, so they are not logged as such.
 */
async function answered<T>(reply: FastifyReply, work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof AgentError && EXPECTED.has(err.code)) {
      sendError(reply, err);
      return undefined;
    }
    throw err;
  }
}

const EXPECTED = new Set<string>([ErrorCodes.CAMERA_NOT_FOUND, ErrorCodes.FRAME_UNAVAILABLE]);

function meterHeaders(reply: FastifyReply, m: FocusMeter): FastifyReply {
  return reply
    .header('x-eva-sharpness', String(m.sharpness))
    .header('x-eva-exposure', String(m.exposure.mean))
    .header('x-eva-exposure-dark', String(m.exposure.dark))
    .header('x-eva-exposure-bright', String(m.exposure.bright))
    .header('x-eva-frame-size', `${m.width}x${m.height}`);
}

function sendAsset(req: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  // revalidated on every load (an upgraded agent serves new files under the same names), cheap with the ETag
  reply
    .header('etag', asset.etag)
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff');
  if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  return reply.type(asset.contentType).send(asset.body);
}
