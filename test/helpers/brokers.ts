import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes, type AedesOptions } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { freePort, waitFor } from './net.js';

export interface TestBroker {
  port: number;
  url: string;
  stop(): Promise<void>;
  /** mosquitto only: SIGSTOP / SIGCONT the broker (a paused broker keeps its TCP connections open). */
  pause?(): void;
  resume?(): void;
}

/** Debian's mosquitto on a loopback port of its own; `port` may be given to restart on the same one. */
/** `extraConfig`: more mosquitto.conf lines (e.g. `max_queued_messages 0` for a consumer that lags). */
export async function startMosquitto(
  opts: { port?: number; extraConfig?: string } = {},
): Promise<TestBroker> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'eva-mosq-'));
  const conf = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'user root'];
  if (opts.extraConfig) conf.push(opts.extraConfig);
  return runMosquitto(dir, conf, {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    ready: () => canConnect(port),
  });
}

/**
 * Writes `conf` into `dir`, starts Debian's mosquitto on it and waits until `ready()` says the listener
 * answers (or fails with mosquitto's stderr when it exits first).
 */
export async function runMosquitto(
  dir: string,
  conf: readonly string[],
  opts: { port: number; url: string; ready: () => Promise<boolean> },
): Promise<TestBroker> {
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(file, `${conf.join('\n')}\n`);
  const proc: ChildProcess = spawn('mosquitto', ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited: ${stderr}`);
      return opts.ready();
    },
    10_000,
    `mosquitto on port ${opts.port}`,
  );
  return {
    port: opts.port,
    url: opts.url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGCONT'); // a paused broker cannot act on SIGTERM
        proc.kill('SIGTERM');
      }),
    pause: () => proc.kill('SIGSTOP'),
    resume: () => proc.kill('SIGCONT'),
  };
}

/** An in-process Aedes broker, for unit-level tests; `broker` adds hooks (an `authorizePublish` that stalls). */
export async function startAedes(opts: { port?: number; broker?: AedesOptions } = {}): Promise<TestBroker> {
  const port = opts.port ?? (await freePort());
  const aedes = await Aedes.createBroker(opts.broker);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    stop: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 1000 });
    c.once('connect', () => {
      c.end(true);
      resolve(true);
    });
    c.once('error', () => {
      c.end(true);
      resolve(false);
    });
    c.once('close', () => resolve(false));
  });
}

export interface Received {
  topic: string;
  payload: string;
  json: () => Record<string, unknown>;
  retain: boolean;
}

/** A subscriber that records everything on `filter`, reconnecting by itself. */
export async function collect(
  url: string,
  filter: string,
): Promise<{ messages: Received[]; client: MqttClient; end(): Promise<void> }> {
  const messages: Received[] = [];
  const client = await mqtt.connectAsync(url, {
    reconnectPeriod: 200,
    clientId: `test-sub-${process.pid}-${Math.random()}`,
  });
  client.on('message', (topic, payload, packet) => {
    const text = payload.toString('utf8');
    messages.push({ topic, payload: text, json: () => JSON.parse(text), retain: packet.retain });
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return { messages, client, end: () => client.endAsync() };
}
