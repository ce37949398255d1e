/**
 * `npm run bench:upload`: the agent's memory while a model upload streams in. Spawns the built agent
 * (`npm run build` first) with the washer model, then streams a generated upload of BENCH_UPLOAD_MB (1024)
 * MiB of bytes that are no model to `POST /api/model/install` twice: once under a `health.maxUploadMB` above
 * it (received whole, hashed on the way, refused by its layout) and once with the limit at a tenth of it
 * (cut off at the limit). For each it prints the agent process's RSS before and its peak RSS during the
 * upload (VmHWM, reset to the current RSS first), and how much the client got to send. Before uploads were
 * streamed and vetted by layout, a 1 GB upload left the agent's RSS at 2 GB.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, REPO, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../test/helpers/agent-process.js';
import { freePort, waitFor } from '../test/helpers/net.js';
import { streamUpload } from '../test/helpers/upload-stream.js';

const SIZE_MB = Number(process.env.BENCH_UPLOAD_MB ?? 1024);
const MIB = 1024 * 1024;
const TOKEN = 'bench-upload-token';

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

async function run(maxUploadMB: number): Promise<void> {
  const dir = tempDir('eva-bench-upload-');
  const port = await freePort();
  const config = writeConfig(
    dir,
    `agent: { id: bench-upload }
store: { path: ${join(dir, 'agent.db')} }
mqtt: { url: "mqtt://127.0.0.1:1" }
health: { listen: "127.0.0.1:${port}", token: ${TOKEN}, maxUploadMB: ${maxUploadMB} }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras: [{ id: cam-1, source: { type: synthetic }, trigger: { type: mqtt }, model: washer }]
`,
  );
  const agent = spawnAgent(['run', '-c', config], { env: { LOG_LEVEL: 'warn' } });
  try {
    const pid = agent.proc.pid as number;
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
      60_000,
      'the agent ready',
    );
    const manifest = readFileSync(join(REPO, 'models/washer/manifest.yaml'), 'utf8').replace(
      /^version: .*$/m,
      'version: "bench"',
    );
    const rssBefore = status(pid, 'VmRSS');
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const started = Date.now();
    const res = await streamUpload({
      port,
      token: TOKEN,
      model: 'washer',
      files: [
        { name: 'model.onnx', size: SIZE_MB * MIB, seed: 3 },
        { name: 'manifest.yaml', data: Buffer.from(manifest) },
      ],
    });
    const seconds = (Date.now() - started) / 1000;
    const peak = status(pid, 'VmHWM');
    let answer = res.body;
    try {
      const body = JSON.parse(res.body) as { code?: string; error?: string };
      answer = `${body.code}: ${body.error?.slice(0, 110)}`;
    } catch {
      // not JSON: printed as it came
    }
    process.stdout.write(
      `upload ${SIZE_MB} MiB, maxUploadMB ${maxUploadMB}: HTTP ${res.status} in ${seconds.toFixed(1)} s; ` +
        `client sent ${(res.sent / MIB).toFixed(0)} MiB; agent RSS before ${rssBefore.toFixed(0)} MiB, ` +
        `peak during ${peak.toFixed(0)} MiB (+${(peak - rssBefore).toFixed(0)})\n  ${answer}\n`,
    );
  } finally {
    await agent.stop();
  }
}

process.stdout.write(`bench/upload.ts: ${BIN}\n`);
await run(SIZE_MB * 2);
await run(Math.max(1, Math.round(SIZE_MB / 10)));
