import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildHttpApp, type HttpDeps } from '../../../agent/http/index.js';
import { ModelDeployment } from '../../../agent/models/index.js';
import { systemClock } from '../../../agent/service.js';
import { tempDir } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';
import { stubHttpDeps } from '../../helpers/http-deps.js';
import { washerConfig, washerVersion } from '../../helpers/model-versions.js';
import { streamUpload } from '../../helpers/upload-stream.js';

const TOKEN = 'upload-token';
const MIB = 1024 * 1024;

async function listening(t: Test, overrides: Partial<HttpDeps>) {
  const uploadDir = tempDir('eva-uploads-');
  const app = buildHttpApp(stubHttpDeps({ token: TOKEN, uploadDir, ...overrides }));
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { port: (app.server.address() as { port: number }).port, uploadDir };
}

/** This process's peak RSS (VmHWM) since the last reset, in bytes. */
function highWaterMark(): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/**
 * The peak RSS while `work` runs: the kernel's high-water mark, reset to the current RSS first (clear_refs
 * 5), so a buffer allocated and freed between two samples is counted too.
 */
async function peakRss<T>(work: () => Promise<T>): Promise<{ result: T; peak: number; before: number }> {
  writeFileSync('/proc/self/clear_refs', '5');
  const before = process.memoryUsage().rss;
  const result = await work();
  return { result, peak: highWaterMark(), before };
}

t.test(
  'a file over health.maxUploadMB is refused while it streams, and the rest is not received',
  async (t) => {
    let installs = 0;
    const { port, uploadDir } = await listening(t, {
      limits: { maxUploadBytes: MIB },
      installModel: async () => {
        installs++;
        return {};
      },
    });
    const res = await streamUpload({
      port,
      token: TOKEN,
      model: 'washer',
      files: [{ name: 'model.onnx', size: 64 * MIB }],
    });
    t.equal(res.status, 413, res.body);
    t.match(JSON.parse(res.body), {
      code: 'EVA_ERR_BODY_TOO_LARGE',
      error: 'model.onnx is larger than the upload limit (1 MiB, health.maxUploadMB)',
    });
    t.ok(res.sent < 32 * MIB, `cut off after ${(res.sent / MIB).toFixed(1)} MiB of 64`);
    t.equal(installs, 0, 'nothing installed');
    t.same(readdirSync(uploadDir), [], 'the staging folder is removed');
  },
);

t.test('the hash taken while a file streams in reaches the install', async (t) => {
  let received: unknown;
  const { port } = await listening(t, {
    installModel: async (_model, _folder, files) => {
      received = files;
      return {};
    },
  });
  const manifest = readFileSync(join(washerVersion('7'), 'manifest.yaml'));
  const res = await streamUpload({
    port,
    token: TOKEN,
    model: 'washer',
    files: [
      { name: 'model.onnx', size: 3 * MIB + 17, seed: 5 },
      { name: 'manifest.yaml', data: manifest },
    ],
  });
  t.equal(res.status, 200, res.body);
  t.same(received, {
    'model.onnx': { bytes: 3 * MIB + 17, sha256: res.sha256['model.onnx'] },
    'manifest.yaml': { bytes: manifest.length, sha256: res.sha256['manifest.yaml'] },
  });
});

t.test(
  'a 256 MiB upload that is no model: RSS stays flat, refused by its layout before it is read',
  async (t) => {
    const d = new ModelDeployment(washerConfig(), {
      log: quietLog,
      clock: systemClock,
      versionsDir: tempDir('eva-versions-'),
    });
    t.teardown(() => d.stop());
    await d.start();
    const { port, uploadDir } = await listening(t, {
      installModel: async (_model, folder, files) => d.install(folder, files),
    });
    const manifest = readFileSync(join(washerVersion('9'), 'manifest.yaml'));
    const size = 256 * MIB;
    const { result, peak, before } = await peakRss(() =>
      streamUpload({
        port,
        token: TOKEN,
        model: 'washer',
        files: [
          { name: 'model.onnx', size, seed: 11 },
          { name: 'manifest.yaml', data: manifest },
        ],
      }),
    );
    const grew = (peak - before) / MIB;
    t.equal(result.status, 400, result.body);
    t.match(JSON.parse(result.body), {
      code: 'EVA_ERR_MODEL_REJECTED',
      error:
        /^model washer: upload refused: model\.onnx is not an ONNX model: .*; active version 1 unchanged$/,
    });
    // the generator, the HTTP client and the server share this process: all of it stays far below the file
    t.ok(grew < 96, `RSS grew ${grew.toFixed(0)} MiB during a ${size / MIB} MiB upload`);
    t.same(readdirSync(uploadDir), [], 'the staging folder is removed');
    t.equal(d.snapshot().shadow, null, 'nothing installed');
  },
);
