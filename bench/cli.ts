/**
 * `npm run bench:cli`: two costs of the install/CLI work, measured side by side.
 * 1. Reading a config with N unknown keys (5k to 40k): linear now (yaml's uniqueKeys compared each key with
 *    every other: 20,000 keys took 6.5 s here); the time per key should stay flat as N doubles.
 * 2. What one systemd WATCHDOG ping costs the main loop, at ~350 MB RSS (the agent with models loaded):
 *    spawning systemd-notify per ping (a fork of the whole process) against a line written to the relay's
 *    stdin (what SystemdNotifier does). Needs systemd-notify and python3 (a stand-in notify socket).
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ConfigError, parseConfigText } from '../agent/config/index.js';
import { REPO, tempDir } from '../test/helpers/agent-process.js';

const base = `agent: { id: cell-1 }
models: [{ id: washer, path: models/washer/model.onnx }]
cameras: [{ id: cam-1, source: { type: synthetic }, trigger: { type: continuous }, model: washer }]
store:
`;
console.log('config with N unknown keys: ms to report (ms per 1000 keys)');
for (const n of [1_000, 5_000, 10_000, 20_000, 40_000]) {
  // the first (1,000) warms zod and the YAML parser up; read the rest
  let text = base;
  for (let i = 0; i < n; i++) text += `  k${i}: 1\n`;
  const started = performance.now();
  try {
    parseConfigText(text, 'bench', {});
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
  }
  const ms = performance.now() - started;
  console.log(
    `  ${String(n).padStart(6)} keys: ${ms.toFixed(0).padStart(5)} ms (${((ms / n) * 1000).toFixed(1)})`,
  );
}

const percentiles = (times: number[]) => {
  const s = [...times].sort((a, b) => a - b);
  const at = (p: number) => (s[Math.min(s.length - 1, Math.floor(p * s.length))] as number).toFixed(3);
  return `p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms`;
};

if (spawnSync('sh', ['-c', 'command -v systemd-notify && command -v python3']).status !== 0) {
  console.log('watchdog ping: skipped (needs systemd-notify and python3)');
} else {
  const socket = join(tempDir('eva-bench-notify-'), 'notify.sock');
  const listener = spawn('python3', [join(REPO, 'test/fixtures/systemd/notify-listener.py'), socket], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((r) => listener.stdout.once('data', r));
  const env = { ...process.env, NOTIFY_SOCKET: socket };
  const ballast: Buffer[] = [];
  for (let i = 0; i < 300; i++) ballast.push(Buffer.alloc(1024 * 1024, i));
  const rss = (process.memoryUsage().rss / 2 ** 20).toFixed(0);
  const spawned: number[] = [];
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now();
    const child = spawn('systemd-notify', ['WATCHDOG=1'], { stdio: 'ignore', env });
    spawned.push(performance.now() - t0);
    await new Promise((r) => child.once('exit', r));
  }
  const relay = spawn('sh', ['-c', 'while IFS= read -r line; do systemd-notify "$line"; done'], {
    stdio: ['pipe', 'ignore', 'inherit'],
    env,
  });
  const written: number[] = [];
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now();
    relay.stdin.write('WATCHDOG=1\n');
    written.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 50));
  }
  relay.stdin.end();
  console.log(`watchdog ping at ${rss} MB RSS, main-loop time per ping:`);
  console.log(`  spawn systemd-notify: ${percentiles(spawned)}`);
  console.log(`  line to the relay:    ${percentiles(written)}`);
  listener.kill();
  ballast.length = 0;
}
