import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import sharp from 'sharp';
import { freePort, waitFor } from './net.js';

/** `count` distinct JPEG frames (a moving bright square on a gradient), as a camera would send. */
export async function makeJpegFrames(count: number, width = 320, height = 240): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  for (let n = 0; n < count; n++) {
    const raw = Buffer.alloc(width * height * 3);
    const size = Math.max(4, Math.floor(Math.min(width, height) / 5));
    const x0 = Math.floor(((width - size) * n) / Math.max(1, count));
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 3;
        const lit = x >= x0 && x < x0 + size && y >= height / 3 && y < height / 3 + size;
        raw[i] = lit ? 255 : (x * 255) / width;
        raw[i + 1] = lit ? 255 : (y * 255) / height;
        raw[i + 2] = lit ? 255 : 96;
      }
    }
    frames.push(
      await sharp(raw, { raw: { width, height, channels: 3 } })
        .jpeg({ quality: 80 })
        .toBuffer(),
    );
  }
  return frames;
}

/** A real JPEG whose header claims `width` x `height`: an image bomb as a header parser sees it. */
export function withClaimedSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i + 9 < out.length; ) {
    const marker = out[i + 1] ?? 0;
    if (marker === 0xc0 || marker === 0xc2) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + out.readUInt16BE(i + 2);
  }
  throw new Error('no start-of-frame segment found');
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
}

function basicOk(req: IncomingMessage, user: string, pass: string): boolean {
  return req.headers.authorization === `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

export interface MjpegServerOptions {
  fps?: number;
  width?: number;
  height?: number;
  /** Parts carry a Content-Length header (default true); without it, only the boundary ends a part. */
  contentLength?: boolean;
  /** Repeat the delimiter's leading `--` in the Content-Type's boundary, as some cameras do. */
  dashesInHeader?: boolean;
  auth?: { user: string; pass: string };
  /** Frames to cycle through (made with sharp when not given). */
  frames?: Buffer[];
}

export interface MjpegServer {
  url: string;
  port: number;
  /** Parts written so far, to any client. */
  sent(): number;
  clients(): number;
  /** Stops writing parts but keeps connections open: a stalled camera. */
  pause(): void;
  resume(): void;
  /** Ends every open response, like a camera rebooting. */
  dropClients(): void;
  /** Writes one part (before the next frame) with this body and content type. */
  inject(body: Buffer, contentType?: string): void;
  stop(): Promise<void>;
}

/** An MJPEG camera: `multipart/x-mixed-replace` on /video, parts written at `fps`. */
export async function startMjpegServer(opts: MjpegServerOptions = {}): Promise<MjpegServer> {
  const frames = opts.frames ?? (await makeJpegFrames(5, opts.width, opts.height));
  const token = `eva${randomBytes(6).toString('hex')}`;
  const headerBoundary = opts.dashesInHeader ? `--${token}` : token;
  const clients = new Set<ServerResponse>();
  const injected: { body: Buffer; type: string }[] = [];
  let sent = 0;
  let paused = false;
  const writePart = (res: ServerResponse, body: Buffer, type: string) => {
    const length = opts.contentLength === false ? '' : `Content-Length: ${body.length}\r\n`;
    res.write(`--${token}\r\nContent-Type: ${type}\r\n${length}\r\n`);
    res.write(body);
    res.write('\r\n');
  };
  const server = createServer((req, res) => {
    if (opts.auth && !basicOk(req, opts.auth.user, opts.auth.pass)) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="camera"' }).end();
      return;
    }
    if (req.url !== '/video') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': `multipart/x-mixed-replace; boundary=${headerBoundary}`,
      'cache-control': 'no-cache',
    });
    clients.add(res);
    res.on('close', () => clients.delete(res));
  });
  const timer = setInterval(
    () => {
      if (paused || clients.size === 0) return;
      const part = injected.shift() ?? { body: frames[sent % frames.length] as Buffer, type: 'image/jpeg' };
      for (const res of clients) writePart(res, part.body, part.type);
      sent++;
    },
    1000 / (opts.fps ?? 20),
  );
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/video`,
    port,
    sent: () => sent,
    clients: () => clients.size,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
    },
    dropClients: () => {
      for (const res of clients) res.destroy();
      clients.clear();
    },
    inject: (body, type = 'image/jpeg') => {
      injected.push({ body, type });
    },
    stop: () => {
      clearInterval(timer);
      for (const res of clients) res.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface SnapshotServer {
  base: string;
  /** Requests received per path. */
  hits(path: string): number;
  /** Digest only: issue a new nonce, so the one a client holds is now stale. */
  rotateNonce(): void;
  stop(): Promise<void>;
}

/**
 * A camera's still-image endpoint, and the ways it goes wrong: `/snapshot.jpg` (behind `auth` when given),
 * `/snapshot.png`, `/missing` (404), `/login` (200 text/html), `/empty`, `/hang` (never answers),
 * `/bomb` (a JPEG claiming 10000x10000), `/truncated` (half a JPEG).
 */
export async function startSnapshotServer(
  opts: { auth?: { scheme: 'basic' | 'digest'; user: string; pass: string }; jpeg?: Buffer } = {},
): Promise<SnapshotServer> {
  const jpeg = opts.jpeg ?? ((await makeJpegFrames(1))[0] as Buffer);
  const png = await sharp(jpeg).png().toBuffer();
  const hits = new Map<string, number>();
  const realm = 'camera';
  let nonce = randomBytes(8).toString('hex');
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const digestOk = (req: IncomingMessage, user: string, pass: string): 'ok' | 'stale' | 'bad' => {
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Digest ')) return 'bad';
    const p = Object.fromEntries(
      [...header.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)].map((m) => [m[1], m[2] ?? m[3] ?? '']),
    );
    const ha1 = md5(`${user}:${realm}:${pass}`);
    const ha2 = md5(`${req.method}:${p.uri}`);
    const expected = md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:auth:${ha2}`);
    if (p.username !== user || p.qop !== 'auth' || p.uri !== req.url || p.response !== expected) return 'bad';
    return p.nonce === nonce ? 'ok' : 'stale';
  };
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const send = (status: number, type: string | undefined, body?: Buffer | string) => {
      res.writeHead(status, type ? { 'content-type': type } : {}).end(body);
    };
    if (path === '/snapshot.jpg' && opts.auth) {
      const { scheme, user, pass } = opts.auth;
      const verdict =
        scheme === 'basic' ? (basicOk(req, user, pass) ? 'ok' : 'bad') : digestOk(req, user, pass);
      if (verdict !== 'ok') {
        const challenge =
          scheme === 'basic'
            ? `Basic realm="${realm}"`
            : `Digest realm="${realm}", qop="auth,auth-int", nonce="${nonce}", opaque="0a1b", algorithm=MD5${verdict === 'stale' ? ', stale=true' : ''}`;
        res.writeHead(401, { 'www-authenticate': challenge }).end('unauthorised');
        return;
      }
    }
    switch (path) {
      case '/snapshot.jpg':
        return send(200, 'image/jpeg', jpeg);
      case '/snapshot.png':
        return send(200, 'image/png', png);
      case '/login':
        return send(200, 'text/html', '<html><body>Please log in</body></html>');
      case '/empty':
        return send(200, 'image/jpeg');
      case '/bomb':
        return send(200, 'image/jpeg', withClaimedSize(jpeg, 10_000, 10_000));
      case '/truncated':
        return send(200, 'image/jpeg', jpeg.subarray(0, Math.floor(jpeg.length / 2)));
      case '/hang':
        return; // never answers
      default:
        return send(404, 'text/plain', 'not found');
    }
  });
  const port = await listen(server);
  return {
    base: `http://127.0.0.1:${port}`,
    hits: (path) => hits.get(path) ?? 0,
    rotateNonce: () => {
      nonce = randomBytes(8).toString('hex');
    },
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface RtspPorts {
  client: number;
  source: number;
  rtp: number;
}

export interface RtspCamera {
  url: string;
  ports: RtspPorts;
  /** Kills the publisher and the server: the camera is gone (start again with the same `ports`). */
  stop(): Promise<void>;
  /** SIGSTOPs the publisher: the session stays open but no frame comes (a frozen encoder); `thaw` resumes. */
  freeze(): void;
  thaw(): void;
}

function stopProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill(signal);
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const RTSP_SERVER_SCRIPT =
  'require RTSP::Server; $RTSP::Server::RTP_START_PORT = shift @ARGV; do "/usr/bin/rtsp-server-perl"; die $@ if $@;';

/**
 * An RTSP camera on loopback: Debian's rtsp-server-perl relaying an H.264 testsrc that ffmpeg publishes to
 * it. Clients read `url` over UDP (the server does not do TCP interleaved). Each camera gets its own RTP
 * port range, so cameras in parallel test files do not collide.
 */
export async function startRtspCamera(
  opts: { width?: number; height?: number; fps?: number; ports?: RtspPorts } = {},
): Promise<RtspCamera> {
  const ports = opts.ports ?? {
    client: await freePort(),
    source: await freePort(),
    rtp: 30_000 + 2 * Math.floor(Math.random() * 14_000),
  };
  // The server resets its next RTP port to the package default (20000) whenever a connection closes while
  // nothing is mounted (a readiness probe, a client retrying), whatever --rtp_start_port said: two servers
  // then both bind 20000 and the second RECORD fails with 404. Setting the package default too prevents it.
  const server = spawn(
    'perl',
    [
      ...['-e', RTSP_SERVER_SCRIPT, String(ports.rtp)],
      ...['-c', String(ports.client), '-s', String(ports.source), '--rtp_start_port', String(ports.rtp)],
      ...['--client_listen_address', '127.0.0.1', '--source_listen_address', '127.0.0.1', '-l', '2'],
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  await waitFor(
    async () => {
      if (server.exitCode !== null) throw new Error('rtsp-server-perl exited');
      return (await canConnect(ports.client)) && (await canConnect(ports.source));
    },
    10_000,
    'rtsp-server-perl',
  );
  const { width = 320, height = 240, fps = 10 } = opts;
  const publisher = spawn(
    'ffmpeg',
    [
      ...['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info', '-re', '-f', 'lavfi'],
      ...['-i', `testsrc=size=${width}x${height}:rate=${fps}`, '-c:v', 'libx264', '-preset', 'ultrafast'],
      ...['-tune', 'zerolatency', '-g', String(fps), '-pix_fmt', 'yuv420p'],
      ...['-f', 'rtsp', `rtsp://127.0.0.1:${ports.source}/cam`],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  publisher.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  const stop = async () => {
    await stopProcess(publisher, 'SIGKILL');
    await stopProcess(server, 'SIGKILL');
  };
  try {
    // the output header is written after ANNOUNCE/RECORD succeeded: the stream is up
    await waitFor(
      () => {
        if (publisher.exitCode !== null) throw new Error(`publisher exited: ${log}`);
        return log.includes('Output #0');
      },
      10_000,
      'the RTSP publisher',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `rtsp://127.0.0.1:${ports.client}/cam`,
    ports,
    stop: async () => {
      publisher.kill('SIGCONT');
      await stop();
    },
    freeze: () => publisher.kill('SIGSTOP'),
    thaw: () => publisher.kill('SIGCONT'),
  };
}
