import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { prng } from './frame-fuzz.js';

/**
 * A model upload (`POST /api/model/install`, multipart) generated while it is sent: a file of any size
 * without holding it in memory, for the upload tests, `bench/upload.ts` and the chaos suite. The generated
 * file's sha256 is computed on the way, to compare with what the agent says it received.
 */

export interface GeneratedFile {
  /** Its path in the version folder: `model.onnx`, `manifest.yaml`. */
  name: string;
  /** Either the bytes, or a size to generate (deterministic pseudo-random bytes from `seed`). */
  data?: Buffer;
  size?: number;
  seed?: number;
}

export interface UploadResult {
  status: number;
  body: string;
  /** Bytes the client had written when the answer came or the connection closed. */
  sent: number;
  /** sha256 of each file as generated (of what was generated so far, for a file cut off). */
  sha256: Record<string, string>;
}

const CHUNK = 1024 * 1024;

/** Streams the upload to `http://127.0.0.1:port`; resolves with the answer (or the close, if none came). */
export function streamUpload(opts: {
  port: number;
  token: string;
  model: string;
  files: GeneratedFile[];
}): Promise<UploadResult> {
  const boundary = `----eva-upload-${Date.now()}`;
  const hashes = new Map<string, ReturnType<typeof createHash>>();
  let sent = 0;
  function* parts(): Generator<Buffer> {
    yield Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n${opts.model}\r\n`,
    );
    for (const file of opts.files) {
      const hash = createHash('sha256');
      hashes.set(file.name, hash);
      yield Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${file.name}"; filename="${file.name.split('/').pop()}"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      );
      if (file.data) {
        hash.update(file.data);
        yield file.data;
      } else {
        const rnd = prng(file.seed ?? 1);
        const block = Buffer.alloc(CHUNK);
        for (let i = 0; i < CHUNK; i += 4) block.writeUInt32LE(Math.floor(rnd() * 2 ** 32), i);
        let left = file.size ?? 0;
        for (let n = 0; left > 0; n++) {
          // each chunk differs (its first bytes carry its number), so the whole is no short repeat
          const chunk = Buffer.from(block.subarray(0, Math.min(CHUNK, left)));
          chunk.writeUInt32LE(n, 0);
          hash.update(chunk);
          left -= chunk.length;
          yield chunk;
        }
      }
      yield Buffer.from('\r\n');
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  const body = Readable.from(parts(), { objectMode: false });
  body.on('data', (chunk: Buffer) => {
    sent += chunk.length;
  });
  return new Promise((resolve) => {
    let answered: { status: number; body: string } | undefined;
    const finish = () =>
      resolve({
        status: answered?.status ?? 0,
        body: answered?.body ?? '',
        sent,
        sha256: Object.fromEntries([...hashes].map(([name, h]) => [name, h.copy().digest('hex')])),
      });
    const req = request(
      {
        host: '127.0.0.1',
        port: opts.port,
        method: 'POST',
        path: '/api/model/install',
        headers: {
          authorization: `Bearer ${opts.token}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => {
          answered = { status: res.statusCode ?? 0, body: text };
          body.destroy();
          finish();
        });
      },
    );
    // the agent may close the connection mid-upload (over the limit): what it answered is the result
    req.on('error', () => {
      body.destroy();
      if (!answered) setTimeout(finish, 50);
    });
    body.pipe(req);
  });
}
