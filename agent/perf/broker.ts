import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';

/** The broker a benchmark publishes to: one it started (stopped after) or one it was given. */
export interface BenchBroker {
  url: string;
  /** what it is, for the report: `mosquitto 2.0.11 on 127.0.0.1:PORT (started by the bench)` */
  describe: string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` every 50 ms until it is truthy or `timeoutMs` passes. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function canConnect(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 1000 });
    const done = (ok: boolean) => {
      c.end(true);
      resolve(ok);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.once('close', () => done(false));
  });
}

/** A broker given by URL (the plant's own, or one already running): used as it is, never stopped. */
export async function useBroker(url: string): Promise<BenchBroker> {
  if (!(await canConnect(url))) throw new Error(`cannot connect to the broker at ${url}`);
  return { url, describe: `${url} (given)`, stop: async () => {} };
}

/**
 * The local `mosquitto` on a free loopback port, no persistence, anonymous, as the bench's own broker (the
 * agent, the plain script and the subscriber all talk to it over loopback TCP).
 */
export async function startMosquitto(binary = 'mosquitto'): Promise<BenchBroker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'eva-bench-mosq-'));
  const conf = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false'];
  // as root mosquitto drops to its own user unless told otherwise; the temp dir is root's
  if (process.getuid?.() === 0) conf.push('user root');
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(file, `${conf.join('\n')}\n`);
  const proc: ChildProcess = spawn(binary, ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const spawnError = new Promise<never>((_, reject) =>
    proc.once('error', (err) =>
      reject(
        new Error(`cannot start ${binary} (${err.message}): install it, or give a broker URL (--broker)`),
      ),
    ),
  );
  const url = `mqtt://127.0.0.1:${port}`;
  await Promise.race([
    spawnError,
    waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`${binary} exited: ${stderr.trim()}`);
        return canConnect(url);
      },
      10_000,
      `${binary} on port ${port}`,
    ),
  ]);
  const version = /mosquitto version (\S+)/.exec(stderr)?.[1];
  return {
    url,
    describe: `mosquitto${version ? ` ${version}` : ''} on 127.0.0.1:${port} (started by the bench)`,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (proc.exitCode !== null || proc.signalCode !== null) return done();
        proc.once('exit', done);
        proc.kill('SIGTERM');
      }),
  };
}
