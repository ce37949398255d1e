import { existsSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import sharp from 'sharp';
import t, { type Test } from 'tap';
import { Agent } from '../../agent/app.js';
import { parseConfigText } from '../../agent/config/index.js';
import { REPO, tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { startAedes, type TestBroker } from '../helpers/brokers.js';
import { quietLog } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/net.js';

/**
 * The technician page's HTTP side against a whole agent in-process (real store, broker, model, camera
 * sources): the page and its assets, the status it reads, its live updates, the judged frames, the aiming
 * snapshot and stream, and that nothing it can reach changes state without the token.
 */

const TOKEN = 'page-token-7';
const WEB = join(REPO, 'dist/web');

async function startAgent(t: Test, broker: TestBroker) {
  const dir = tempDir();
  const config = parseConfigText(
    `agent: { id: page-test }
store: { path: ${dir}/agent.db, maxDiskMB: 64 }
mqtt: { url: "${broker.url}", topicRoot: t/page, reconnectMinMs: 100, reconnectMaxMs: 300 }
health: { listen: "127.0.0.1:0", token: ${TOKEN} }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${join(REPO, 'samples/washer')}, loop: true }, trigger: { type: mqtt }, model: washer, deadlineMs: 3000 }
  - { id: cam-2, source: { type: synthetic, width: 320, height: 240, fps: 5 }, trigger: { type: interval, fps: 2 }, model: washer, deadlineMs: 3000 }
`,
    'test',
    {},
  );
  const agent = new Agent(config, { log: quietLog });
  await agent.start();
  t.teardown(() => agent.stop());
  return { agent, base: `http://127.0.0.1:${agent.http.port}` };
}

const trigger = (base: string, partId: string) =>
  fetch(`${base}/api/trigger`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ camera: 'cam-1', partId }),
  }).then((r) => r.json() as Promise<{ status: string; data: { decisionId: string; seq: number } }>);

/** Reads server-sent events until `until` says enough (or the time is up). */
function readEvents(
  url: string,
  until: (events: { event: string; data: string }[]) => boolean,
  timeoutMs = 15_000,
): Promise<{ events: { event: string; data: string }[]; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const events: { event: string; data: string }[] = [];
    let buffer = '';
    const req = httpGet(url, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut = buffer.indexOf('\n\n');
        while (cut >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data !== undefined) events.push({ event, data });
          cut = buffer.indexOf('\n\n');
        }
        if (until(events)) {
          req.destroy();
          resolve({ events, headers: res.headers });
        }
      });
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    setTimeout(() => {
      req.destroy();
      reject(new Error(`events: ${events.map((e) => e.event).join(', ')}`));
    }, timeoutMs).unref();
  });
}

t.test('the page, its assets, the status it reads and its live updates', async (t) => {
  if (!existsSync(join(WEB, 'index.html'))) {
    t.fail('dist/web is missing: `npm run build` builds the page (npm test does it first)');
    return;
  }
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const { agent, base } = await startAgent(t, broker);
  await waitFor(() => agent.link.connected, 5_000, 'broker connection');

  const page = await fetch(`${base}/`);
  t.equal(page.status, 200, 'GET / is the technician page');
  t.match(page.headers.get('content-type'), /text\/html/);
  t.match(
    page.headers.get('content-security-policy'),
    /default-src 'self'/,
    'nothing but the agent is loaded',
  );
  const html = await page.text();
  const assets = [...html.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)].map((m) => m[1] as string);
  t.ok(assets.includes('main.js') && assets.includes('uPlot.iife.min.js'), `assets: ${assets.join(', ')}`);
  t.notMatch(html, /https?:\/\//, 'no CDN, no external URL');
  const main = await (await fetch(`${base}/assets/main.js`)).text();
  const modules = [...main.matchAll(/from '\.\/([^']+)'/g)].map((m) => m[1] as string);
  for (const name of [...assets, ...modules]) {
    const res = await fetch(`${base}/assets/${name}`);
    t.equal(res.status, 200, `/assets/${name}`);
    const etag = res.headers.get('etag') ?? '';
    t.equal((await fetch(`${base}/assets/${name}`, { headers: { 'if-none-match': etag } })).status, 304);
  }
  t.equal((await fetch(`${base}/assets/..%2Fpackage.json`)).status, 404, 'nothing outside the page folder');

  const d1 = await trigger(base, 'P-1');
  const d2 = await trigger(base, 'P-2');
  t.equal(d1.status, 'ok');

  const status = (await (await fetch(`${base}/api/status`)).json()) as Record<string, unknown>;
  type Cam = Record<string, unknown> & {
    id: string;
    counts: Record<string, number>;
    lastVerdict: { seq: number };
  };
  const cam1 = (status.cameras as Cam[]).find((c) => c.id === 'cam-1') as Cam;
  t.match(cam1, {
    state: 'running',
    enabled: true,
    fps: Number,
    lastFrameAgeMs: Number,
    framesSkipped: 0,
    reconnects: 0,
    deadlineMs: 3000,
    latencyMs: { p50: Number, p99: Number, samples: 2 },
    recent: { windowS: 300, decided: 2, missed: 0 },
    lastVerdict: { id: d2.data.decisionId, seq: d2.data.seq, partId: 'P-2', degraded: false },
  });
  const counted = Object.values(cam1.counts).reduce((a, b) => a + b, 0);
  t.equal(counted, 2, 'counts of the last hour, by verdict');
  t.type(cam1.ngRate, 'number');
  t.match(status, {
    agent: { id: 'page-test', version: String, startedAt: Number, uptimeS: Number },
    models: [{ id: 'washer', state: 'ready', version: String, provider: 'cpu', shadow: null }],
    store: { backlog: Number, lastSeq: Number, disk: { totalBytes: Number, budgetBytes: 64 * 1024 * 1024 } },
    mqtt: { connected: true, url: broker.url, inFlight: Number },
    system: {
      cpu: { loadPercent: Number, cores: Number },
      memory: { totalBytes: Number, usedBytes: Number, processRssBytes: Number },
      disk: { totalBytes: Number, freeBytes: Number },
      sampledAt: Number,
    },
    problems: [],
    history: { stepMs: 10_000, windowS: 1200, t: [Number], agent: { backlog: [Number] } },
  });
  t.ok('temperature' in (status.system as object) && 'gpu' in (status.system as object));
  t.ok((status.history as { cameras: Record<string, unknown> }).cameras['cam-1'], 'history per camera');

  // the live updates: the status at once, then the newest decision of each camera
  const live = readEvents(`${base}/api/events`, (ev) =>
    ev.some((e) => e.event === 'decisions' && e.data.includes('"P-3"')),
  );
  await new Promise((r) => setTimeout(r, 300));
  await trigger(base, 'P-3');
  const { events, headers } = await live;
  t.match(headers['content-type'], /text\/event-stream/);
  t.equal(events[0]?.event, 'status', 'the status comes first');
  t.notOk('history' in JSON.parse(events[0]?.data ?? '{}'), 'without the history (it comes as samples)');
  const batch = JSON.parse(events.find((e) => e.data.includes('"P-3"'))?.data ?? '[]') as {
    cameraId: string;
  }[];
  t.match(
    batch.find((d) => d.cameraId === 'cam-1'),
    { partId: 'P-3', verdict: String, hasFrame: true },
  );

  // the judged frame, annotated by the server
  const judged = await fetch(`${base}/api/cameras/cam-1/judged`);
  t.equal(judged.status, 200);
  t.equal(judged.headers.get('content-type'), 'image/jpeg');
  t.ok(Number(judged.headers.get('x-eva-seq')) >= d2.data.seq, 'of the newest decision');
  t.equal((await sharp(Buffer.from(await judged.arrayBuffer())).metadata()).format, 'jpeg');
  const missing = await fetch(`${base}/api/cameras/cam-9/judged`);
  t.equal(missing.status, 404);
  t.match(await missing.json(), { code: 'EVA_ERR_CAMERA_NOT_FOUND' });
});

t.test('aiming: snapshot with its meter, an MJPEG stream, and the errors', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const { agent, base } = await startAgent(t, broker);
  await waitFor(() => agent.store.lastSeq() > 0, 20_000, 'cam-2 judging');

  const snap = await fetch(`${base}/api/cameras/cam-2/snapshot`);
  t.equal(snap.status, 200);
  t.equal(snap.headers.get('content-type'), 'image/jpeg');
  t.ok(Number(snap.headers.get('x-eva-sharpness')) > 0, 'sharpness');
  t.ok(Number(snap.headers.get('x-eva-exposure')) > 0, 'exposure');
  t.equal(snap.headers.get('x-eva-frame-size'), '320x240');
  const meta = await sharp(Buffer.from(await snap.arrayBuffer())).metadata();
  t.same([meta.format, meta.width], ['jpeg', 320]);

  // a folder camera is never grabbed from (its files are parts): it shows the last file it judged
  t.equal((await fetch(`${base}/api/cameras/cam-1/snapshot`)).status, 503, 'nothing judged yet');
  await trigger(base, 'P-9');
  t.equal((await fetch(`${base}/api/cameras/cam-1/snapshot`)).status, 200, 'the judged file');
  t.equal(agent.store.lastSeq(), agent.store.lastSeq(), 'taking snapshots made no decision');
  t.match(await (await fetch(`${base}/api/cameras/nope/snapshot`)).json(), {
    code: 'EVA_ERR_CAMERA_NOT_FOUND',
  });
  t.equal((await fetch(`${base}/api/cameras/cam-2/stream?fps=50`)).status, 400);

  const parts = await new Promise<number>((resolve, reject) => {
    let seen = 0;
    let type = '';
    const req = httpGet(`${base}/api/cameras/cam-2/stream?fps=5`, (res) => {
      type = String(res.headers['content-type']);
      res.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1').split('--eva-frame\r\nContent-Type: image/jpeg').length - 1;
        if (seen >= 2) {
          req.destroy();
          t.match(type, /multipart\/x-mixed-replace; boundary=eva-frame/);
          resolve(seen);
        }
      });
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
  });
  t.ok(parts >= 2, 'frames keep coming on the stream');
});

t.test('every state-changing call is refused without the token (401), and changes nothing', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const { agent, base } = await startAgent(t, broker);
  const { decisionId } = (await trigger(base, 'P-1')).data;
  // cam-2 runs on its own interval: count only what a request could have triggered (cam-1's decisions)
  const cam1Decisions = () => agent.store.list({ camera: 'cam-1', limit: 100 }).length;
  const before = cam1Decisions();

  // every route that is not a GET: the request wildcard and the model upload, nothing else
  await agent.http.app.ready();
  const changing = ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].flatMap((method) =>
    routeTable(agent.http.app.printRoutes({ method })).map((r) => `${method} ${r.path}`),
  );
  t.same(
    changing.sort(),
    ['POST /api/*', 'POST /api/model/install'],
    'the page added no state-changing route of its own',
  );
  t.ok(
    routeTable(agent.http.app.printRoutes({ method: 'GET' })).some(
      (r) => r.path === '/api/cameras/:id/snapshot',
    ),
    'the GET routes are read the same way',
  );

  const unknown = await fetch(`${base}/api/no-such-request`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: '{}',
  });
  const known =
    /known: (.*)$/.exec(((await unknown.json()) as { error: string }).error)?.[1]?.split(', ') ?? [];
  t.ok(known.includes('override') && known.includes('outcome') && known.includes('trigger'), known.join(' '));
  const bodies: Record<string, unknown> = {
    trigger: { camera: 'cam-1' },
    outcome: { decisionId, actual: 'NG' },
    override: { decisionId, verdict: 'NG', user: 'mallory', reason: 'no token' },
    'camera/enable': { camera: 'cam-1', enabled: false },
  };
  for (const name of [...known, 'model/install', 'no-such-request']) {
    for (const auth of [undefined, 'Bearer wrong', `Basic ${TOKEN}`]) {
      const res = await fetch(`${base}/api/${name}`, {
        method: 'POST',
        headers: auth ? { authorization: auth } : {},
        body: JSON.stringify(bodies[name] ?? {}),
      });
      t.equal(res.status, 401, `POST /api/${name} with ${auth ?? 'no token'}`);
    }
  }
  t.equal(cam1Decisions(), before, 'no decision was triggered');
  const detail = (await (await fetch(`${base}/api/decisions/${decisionId}`)).json()) as {
    outcomes: unknown[];
    overrides: unknown[];
  };
  t.same([detail.outcomes, detail.overrides], [[], []], 'no outcome, no override');
  t.equal(agent.cameras.get('cam-1')?.snapshot().enabled, true, 'the camera is still enabled');

  t.equal((await fetch(`${base}/api/auth`)).status, 401, 'the sign-in check without a token');
  t.equal((await fetch(`${base}/api/auth`, { headers: { authorization: 'Bearer x' } })).status, 401);
  t.equal((await fetch(`${base}/api/auth`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
});

/** The routes of fastify's `printRoutes({ method })` tree, each with its full path. */
function routeTable(tree: string): { path: string; methods: string[] }[] {
  const out: { path: string; methods: string[] }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = (m[1] ?? '').length / 4;
    stack.length = depth;
    stack.push(m[2] ?? '');
    if (m[3]) out.push({ path: stack.join(''), methods: m[3].split(', ') });
  }
  return out;
}
