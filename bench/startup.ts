/**
 * `npm run bench:startup`: how long `edge-agent run` takes to start, as a plant's systemd sees it: the built
 * binary spawned on a small config (one folder camera, the washer model, a broker that is not there), timed
 * from spawn to its first log line (imports done) and to `agent started` (every stage up), then stopped.
 *   node --import tsx bench/startup.ts [runs] [--opcua] [--bin PATH] [--alternate PATH]
 * `--opcua` adds `opcua: { enabled: true }` (node-opcua is imported only then). Run `npm run build` first.
 * `--bin` times another build's bin/edge-agent.js (a baseline checkout); `--alternate` times this build and
 * that one turn about, so a busy machine weighs on both alike.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BIN, REPO, SAMPLES, tempDir, WASHER_MODEL } from '../test/helpers/agent-process.js';
import { freePort } from '../test/helpers/net.js';

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 5);
const opcua = args.includes('--opcua');
const flagValue = (flag: string) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const bins = [
  flagValue('--bin') ?? BIN,
  ...(flagValue('--alternate') ? [flagValue('--alternate') as string] : []),
];

async function once(bin: string): Promise<{ firstLog: number; started: number }> {
  const dir = tempDir('eva-startup-');
  const http = await freePort();
  const config = join(dir, 'agent.yaml');
  writeFileSync(
    config,
    `agent: { id: startup }
store: { path: ${dir}/agent.db }
mqtt: { url: "mqtt://127.0.0.1:1", reconnectMinMs: 60000, reconnectMaxMs: 60000 }
health: { listen: "127.0.0.1:${http}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${SAMPLES} }, trigger: { type: mqtt }, model: washer }
${opcua ? `opcua: { enabled: true, port: ${await freePort()}, pkiDir: ${dir}/pki }\n` : ''}`,
  );
  const t0 = performance.now();
  const proc = spawn(process.execPath, [bin, 'run', '-c', config], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let firstLog = 0;
  let out = '';
  const started = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "agent started" within 60 s:\n${out}`)), 60_000);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!firstLog) firstLog = performance.now() - t0;
      if (out.includes('"agent started"')) {
        clearTimeout(timer);
        resolve(performance.now() - t0);
      }
    });
    proc.once('exit', (code) => reject(new Error(`agent exited ${code}:\n${out}`)));
  });
  proc.removeAllListeners('exit');
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  await exited;
  return { firstLog, started };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const results = new Map<string, { firstLog: number; started: number }[]>(bins.map((b) => [b, []]));
for (let i = 0; i < runs; i++) {
  for (const bin of bins) results.get(bin)?.push(await once(bin));
}
for (const [bin, rs] of results) {
  const started = rs.map((r) => r.started);
  process.stdout.write(
    `${bin}: edge-agent run start (${opcua ? 'opcua on' : 'opcua off'}), ${runs} runs: first log median ` +
      `${median(rs.map((r) => r.firstLog)).toFixed(0)} ms, "agent started" median ${median(started).toFixed(0)} ms ` +
      `(min ${Math.min(...started).toFixed(0)}, max ${Math.max(...started).toFixed(0)})\n`,
  );
}
