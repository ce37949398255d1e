import t, { type Test } from 'tap';
import type { Frame } from '../../../agent/capture/frame.js';
import { type MjpegOptions, MjpegSource } from '../../../agent/capture/mjpeg-source.js';
import { makeJpegFrames, startMjpegServer, withClaimedSize } from '../../helpers/camera-servers.js';
import { quietLog } from '../../helpers/fixtures.js';
import { freePort, waitFor } from '../../helpers/net.js';

function source(t: Test, opts: Omit<MjpegOptions, 'log'>): MjpegSource {
  const s = new MjpegSource({ log: quietLog, ...opts });
  t.teardown(() => s.close());
  return s;
}

function grab(s: MjpegSource, timeoutMs = 10_000): Promise<Frame> {
  return s.next(AbortSignal.timeout(timeoutMs));
}

const isJpeg = (f: Frame) => f.kind === 'encoded' && f.data[0] === 0xff && f.data[1] === 0xd8;

async function server(t: Test, opts: Parameters<typeof startMjpegServer>[0] = {}) {
  const s = await startMjpegServer(opts);
  t.teardown(() => s.stop());
  return s;
}

t.test('JPEG parts arrive as encoded frames; the newest wins while nobody asks', async (t) => {
  const camera = await server(t, { fps: 25 });
  const s = source(t, { url: camera.url });
  const first = await grab(s);
  t.ok(isJpeg(first), 'a JPEG');
  await waitFor(() => s.counters.dropped >= 5, 10_000, 'parts dropped while nobody asks');
  const asked = Date.now();
  const second = await grab(s);
  t.ok(second.capturedAt >= asked, 'completed after the call');
  t.ok(Number(second.name?.split('-')[1]) > Number(first.name?.split('-')[1]) + 5, 'skipped the stale ones');
  t.equal(s.counters.errors, 0);
});

t.test('parts cut by the boundary alone, with `--` repeated in the header, are byte-exact', async (t) => {
  const frames = await makeJpegFrames(3);
  const variants = [
    { contentLength: false },
    { contentLength: false, dashesInHeader: true },
    { contentLength: true, dashesInHeader: true },
  ];
  for (const variant of variants) {
    const camera = await startMjpegServer({ fps: 25, frames, ...variant });
    const s = new MjpegSource({ log: quietLog, url: camera.url });
    const got = await grab(s);
    t.ok(
      frames.some((f) => f.equals(got.data)),
      `identical to a sent frame (${JSON.stringify(variant)})`,
    );
    await s.close();
    await camera.stop();
  }
});

t.test('basic auth: the right credentials stream, wrong ones fail clearly', async (t) => {
  const camera = await server(t, { auth: { user: 'viewer', pass: 's3cret' } });
  const ok = source(t, { url: camera.url, username: 'viewer', password: 's3cret' });
  t.ok(isJpeg(await grab(ok)));
  const inUrl = source(t, { url: camera.url.replace('http://', 'http://viewer:s3cret@') });
  t.ok(isJpeg(await grab(inUrl)), 'credentials in the URL work too');
  const wrong = source(t, { url: camera.url, username: 'viewer', password: 'nope' });
  await t.rejects(grab(wrong), /refused the credentials \(HTTP 401\)/);
});

t.test('bad parts are counted and skipped; the stream carries on', async (t) => {
  const [good] = await makeJpegFrames(1);
  if (!good) throw new Error('no frame');
  const camera = await server(t, { fps: 25 });
  const s = source(t, { url: camera.url, maxPartBytes: 256 * 1024 });
  await grab(s);
  camera.inject(Buffer.from('<html>oops</html>'), 'text/html');
  camera.inject(Buffer.from('not a jpeg at all'));
  camera.inject(good.subarray(0, good.length >> 1));
  camera.inject(withClaimedSize(good, 10_000, 10_000));
  camera.inject(Buffer.concat([good, Buffer.alloc(300 * 1024)]));
  await waitFor(() => s.counters.errors >= 5, 10_000, 'five bad parts counted');
  const diagnostics = s.recentDiagnostics().join('\n');
  t.match(diagnostics, /part is text\/html, not image\/jpeg/);
  t.match(diagnostics, /not a JPEG image \(starts with "not a jpeg at all"\)/);
  t.match(diagnostics, /truncated JPEG/);
  t.match(diagnostics, /10000x10000 is over the \d+ pixel limit/);
  t.match(diagnostics, /over the 262144 byte limit/);
  t.ok(isJpeg(await grab(s)), 'good frames still come after');
});

t.test('a part with no boundary in sight is cut off at the cap instead of growing the buffer', async (t) => {
  const [good] = await makeJpegFrames(1);
  if (!good) throw new Error('no frame');
  const camera = await server(t, { fps: 25, contentLength: false });
  const s = source(t, { url: camera.url, maxPartBytes: 64 * 1024 });
  await grab(s);
  camera.inject(Buffer.concat([good, Buffer.alloc(200 * 1024, 0x11)]));
  await waitFor(() => s.counters.errors >= 1, 10_000, 'the oversize part reported');
  t.match(s.recentDiagnostics().join('\n'), /without a boundary/);
  t.ok(isJpeg(await grab(s)), 'and the stream resynchronises');
});

t.test('the end of the stream ends the source; wrong URLs fail clearly', async (t) => {
  const camera = await server(t);
  const s = source(t, { url: camera.url });
  await grab(s);
  const ended = t.rejects(grab(s, 20_000), /MJPEG stream from .* ended|terminated|failed/);
  camera.pause();
  camera.dropClients();
  await ended;
  await t.rejects(grab(s), /ended|terminated|failed/, 'and stays ended');

  const notMjpeg = source(t, { url: camera.url.replace('/video', '/other') });
  await t.rejects(grab(notMjpeg), /answered HTTP 404/);
  const port = await freePort();
  const unreachable = source(t, { url: `http://127.0.0.1:${port}/video` });
  await t.rejects(grab(unreachable), /camera unreachable at .*ECONNREFUSED/);
  t.equal(unreachable.counters.errors, 1);
});
