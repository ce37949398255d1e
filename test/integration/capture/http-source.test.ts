import t, { type Test } from 'tap';
import type { Frame } from '../../../agent/capture/frame.js';
import { parseChallenges, redactUrl } from '../../../agent/capture/http-auth.js';
import { type HttpSnapshotOptions, HttpSnapshotSource } from '../../../agent/capture/http-source.js';
import { ErrorCodes } from '../../../agent/errors.js';
import { startSnapshotServer } from '../../helpers/camera-servers.js';
import { quietLog } from '../../helpers/fixtures.js';
import { freePort } from '../../helpers/net.js';

function source(t: Test, opts: Omit<HttpSnapshotOptions, 'log'>): HttpSnapshotSource {
  const s = new HttpSnapshotSource({ log: quietLog, ...opts });
  t.teardown(() => s.close());
  return s;
}

function grab(s: HttpSnapshotSource, signal = AbortSignal.timeout(10_000)): Promise<Frame> {
  return s.next(signal);
}

async function server(t: Test, opts: Parameters<typeof startSnapshotServer>[0] = {}) {
  const s = await startSnapshotServer(opts);
  t.teardown(() => s.stop());
  return s;
}

t.test('one GET per frame, taken after the call', async (t) => {
  const camera = await server(t);
  const s = source(t, { url: `${camera.base}/snapshot.jpg` });
  const asked = Date.now();
  const f = await grab(s);
  t.equal(f.kind, 'encoded');
  t.ok(f.capturedAt >= asked);
  await grab(s);
  await grab(s);
  t.equal(camera.hits('/snapshot.jpg'), 3, 'three calls, three requests');
  t.same(s.counters, { requests: 3, frames: 3, errors: 0 });
  const png = source(t, { url: `${camera.base}/snapshot.png` });
  t.equal((await grab(png)).data.subarray(1, 4).toString(), 'PNG', 'a PNG still is fine too');
});

t.test('basic auth: learnt from the first 401, then sent up front', async (t) => {
  const camera = await server(t, { auth: { scheme: 'basic', user: 'admin', pass: 'pw' } });
  const s = source(t, { url: `${camera.base}/snapshot.jpg`, username: 'admin', password: 'pw' });
  for (let i = 0; i < 3; i++) await grab(s);
  t.equal(camera.hits('/snapshot.jpg'), 4, 'one 401 round trip, then one request per frame');
  const wrong = source(t, { url: `${camera.base}/snapshot.jpg`, username: 'admin', password: 'bad' });
  await t.rejects(grab(wrong), { code: ErrorCodes.CAMERA_SOURCE, message: /refused the credentials/ });
  const none = source(t, { url: `${camera.base}/snapshot.jpg` });
  await t.rejects(grab(none), /HTTP 401/, 'no credentials configured: a clear 401');
});

t.test('digest auth (MD5, qop=auth): nonce reused with a counter, a stale nonce renewed', async (t) => {
  const camera = await server(t, { auth: { scheme: 'digest', user: 'admin', pass: 'p"w' } });
  const s = source(t, { url: `http://admin:p%22w@127.0.0.1:${new URL(camera.base).port}/snapshot.jpg` });
  for (let i = 0; i < 3; i++) t.equal((await grab(s)).kind, 'encoded');
  t.equal(camera.hits('/snapshot.jpg'), 4, 'one challenge, then one request per frame');
  camera.rotateNonce();
  await grab(s);
  t.equal(camera.hits('/snapshot.jpg'), 6, 'a stale nonce costs one more round trip');
  const wrong = source(t, { url: `${camera.base}/snapshot.jpg`, username: 'admin', password: 'nope' });
  await t.rejects(grab(wrong), /refused the credentials \(HTTP 401\)/);
});

t.test('bad answers fail with a clear, coded error, and are counted', async (t) => {
  const camera = await server(t);
  const cases: [string, RegExp][] = [
    ['/missing', /answered HTTP 404 Not Found/],
    ['/login', /expected an image, got text\/html \(starts with "<html><body>Please log in/],
    ['/empty', /sent an empty body/],
    ['/truncated', /truncated JPEG/],
    ['/bomb', /10000x10000 is over the \d+ pixel limit/],
  ];
  for (const [path, message] of cases) {
    const s = source(t, { url: `${camera.base}${path}` });
    await t.rejects(grab(s), { code: ErrorCodes.CAMERA_SOURCE, message }, path);
    t.equal(s.counters.errors, 1);
    t.match(s.lastError, message);
  }
  const big = source(t, { url: `${camera.base}/snapshot.jpg`, maxBytes: 100 });
  await t.rejects(grab(big), /over the 100 byte limit|passed the 100 byte limit/);
});

t.test('a camera that never answers times out; an unreachable one says so', async (t) => {
  const camera = await server(t);
  const hang = source(t, { url: `${camera.base}/hang`, timeoutMs: 300 });
  await t.rejects(grab(hang), {
    code: ErrorCodes.CAMERA_TIMEOUT,
    message: /no snapshot from .* within 300 ms/,
  });
  const port = await freePort();
  const gone = source(t, { url: `http://127.0.0.1:${port}/snapshot.jpg` });
  await t.rejects(
    grab(gone),
    /camera unreachable at http:\/\/127\.0\.0\.1:\d+\/snapshot\.jpg \(ECONNREFUSED\)/,
  );
  const caller = new AbortController();
  const slow = source(t, { url: `${camera.base}/hang` });
  const pending = t.rejects(grab(slow, caller.signal), /trigger cancelled/, "the caller's reason wins");
  caller.abort(new Error('trigger cancelled'));
  await pending;
  t.equal(slow.counters.errors, 0, 'a cancelled shot is not a camera error');
});

t.test('challenge parsing and URL redaction', async (t) => {
  const c = parseChallenges('Digest realm="a \\"b\\"", qop="auth,auth-int", nonce=xyz, Basic realm="r"');
  t.same(
    c.map((x) => [x.scheme, Object.fromEntries(x.params)]),
    [
      ['digest', { realm: 'a "b"', qop: 'auth,auth-int', nonce: 'xyz' }],
      ['basic', { realm: 'r' }],
    ],
  );
  t.equal(
    redactUrl('http://admin:pw@cam/snap.cgi?usr=admin&pwd=pw&x=1'),
    'http://***:***@cam/snap.cgi?usr=admin&pwd=***&x=1',
  );
  t.equal(redactUrl('rtsp://u:p@10.0.0.5:554/stream1'), 'rtsp://***:***@10.0.0.5:554/stream1');
});
