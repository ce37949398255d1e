import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { EventBus } from '../../../agent/events.js';
import { buildHttpApp } from '../../../agent/http/index.js';
import { JudgedFrames, LiveEvents, PageAssets, pageRoutes, Snapshots } from '../../../agent/page/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { stubHttpDeps } from '../../helpers/http-deps.js';
import { ManualClock } from '../../helpers/manual-clock.js';

/** The page's routes on the agent's HTTP app, with the app's own error handling and a log that is kept. */
async function app() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
  const clock = new ManualClock();
  const events = new EventBus(log);
  // a folder camera before its first part: nothing to show, nothing to grab
  const folder = { latestFrame: (): Frame | undefined => undefined, grab: () => undefined };
  const routes = pageRoutes({
    assets: new PageAssets(tempDir()), // an install whose page was not built
    live: new LiveEvents({ clock, events, log, status: () => ({}) }),
    judged: new JudgedFrames(['cam-1'], { clock, events, log }),
    snapshots: new Snapshots(new Map([['cam-1', folder]]), { clock, log }),
    clock,
    log,
  });
  return { http: buildHttpApp(stubHttpDeps({ routes: [routes], log })), lines };
}

t.test('nothing to show yet is an answer (503, 404), not a failure of the agent in its log', async (t) => {
  const { http, lines } = await app();
  for (const url of [
    '/api/cameras/cam-1/snapshot',
    '/api/cameras/cam-1/judged',
    '/api/cameras/cam-1/stream',
  ]) {
    const res = await http.inject({ url });
    t.equal(res.statusCode, 503, url);
    t.match(res.json(), { status: 'error', code: 'EVA_ERR_FRAME_UNAVAILABLE' });
  }
  for (const url of [
    '/api/cameras/cam-9/snapshot',
    '/api/cameras/cam-9/judged',
    '/api/cameras/cam-9/stream',
  ]) {
    const res = await http.inject({ url });
    t.equal(res.statusCode, 404, url);
    t.match(res.json(), { code: 'EVA_ERR_CAMERA_NOT_FOUND', error: /known: cam-1/ });
  }
  t.same(
    lines.filter((l) => l.msg === 'HTTP call failed'),
    [],
    'a page polling a camera that has no frame yet does not fill the log',
  );
  const page = await http.inject({ url: '/' });
  t.equal(page.statusCode, 503);
  t.match(page.json(), { code: 'EVA_ERR_PAGE_NOT_BUILT', error: /npm run build/ });
  t.equal((await http.inject({ url: '/assets/main.js' })).statusCode, 404);
  t.equal((await http.inject({ url: '/api/cameras/cam-1/stream?fps=0' })).statusCode, 400);
});
