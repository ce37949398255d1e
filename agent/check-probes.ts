import {
  accessSync,
  closeSync,
  constants,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statfsSync,
  statSync,
} from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import mqtt from 'mqtt';
import type { Logger } from 'pino';
import { createSource } from './capture/index.js';
import type { AgentConfig, CameraConfig, PlcConfig } from './config/index.js';
import { AgentError, describeError, ErrorCodes } from './errors.js';
import { ModelDeployment, versionsDirOf } from './models/index.js';
import { formatBytes } from './read-limited.js';
import { systemClock, withTimeout } from './service.js';
import { SCHEMA_VERSION } from './store/index.js';
import { explainMqttError, redactUrl } from './sync/index.js';

/** One line of `check`'s report. A warning is reported but does not fail the check. */
export interface CheckItem {
  kind: 'store' | 'disk' | 'http' | 'broker' | 'model' | 'camera' | 'plc';
  id: string;
  ok: boolean;
  detail: string;
  warning?: boolean;
}

export const PROBE_TIMEOUT_MS = 5_000;
const SQLITE_MAGIC = 'SQLite format 3\u0000';
/** Where SQLite keeps `PRAGMA user_version` in the file header (big-endian uint32). */
const USER_VERSION_OFFSET = 60;

const asRoot = () => process.getuid?.() === 0;
const rootNote = () => (asRoot() ? ' (checked as root: the service user needs the same rights)' : '');

/** The nearest directory on the way to `path` that exists (the one a missing path would be created in). */
function existingAncestor(path: string): string {
  let dir = resolve(path);
  while (!statSync(dir, { throwIfNoEntry: false })) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dir;
}

const writable = (path: string) => {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * The store, without opening it: `check` creates nothing and migrates nothing (run as root, it would leave a
 * database the service user cannot write). The schema version is read from SQLite's file header and what
 * `run` would do is said: create it, migrate it (after a backup copy), use it, or refuse it.
 */
export function checkStore(config: AgentConfig): CheckItem {
  const path = config.store.path;
  const item = { kind: 'store' as const, id: path };
  try {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) {
      const dir = existingAncestor(dirname(path));
      const ok = writable(dir);
      const creates = dir === resolve(dirname(path)) ? '' : ` and the directories under ${dir}`;
      return {
        ...item,
        ok,
        detail: ok
          ? `not there yet: run would create it (schema v${SCHEMA_VERSION})${creates}${rootNote()}`
          : `not there yet, and ${dir} is not writable: run could not create it`,
      };
    }
    const header = Buffer.alloc(100);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, header, 0, 100, 0);
    } finally {
      closeSync(fd);
    }
    if (stat.size > 0 && header.subarray(0, 16).toString('latin1') !== SQLITE_MAGIC) {
      return { ...item, ok: false, detail: 'is not an SQLite database: run would refuse it' };
    }
    const version = stat.size === 0 ? 0 : header.readUInt32BE(USER_VERSION_OFFSET);
    const canWrite = writable(path) && writable(dirname(path));
    if (!canWrite) {
      return { ...item, ok: false, detail: `schema v${version}, but it or its directory is not writable` };
    }
    const size = formatBytes(stat.size);
    if (version > SCHEMA_VERSION) {
      return {
        ...item,
        ok: false,
        detail: `schema v${version} is from a newer agent (this one knows v${SCHEMA_VERSION}): run would refuse it`,
      };
    }
    if (version < SCHEMA_VERSION) {
      const backup = version > 0 ? `, after copying it to ${path}.v${version}.bak` : '';
      return {
        ...item,
        ok: true,
        detail: `${size}, schema v${version}: run would migrate it to v${SCHEMA_VERSION}${backup}${rootNote()}`,
      };
    }
    return { ...item, ok: true, detail: `${size}, schema v${version} (current), writable${rootNote()}` };
  } catch (err) {
    return { ...item, ok: false, detail: describeError(err) };
  }
}

/** Free space where the store lives against `store.maxDiskMB`: a budget larger than the disk protects nothing. */
export function checkDisk(config: AgentConfig): CheckItem {
  const dir = existingAncestor(dirname(config.store.path));
  const item = { kind: 'disk' as const, id: dir };
  try {
    const fs = statfsSync(dir);
    const free = fs.bavail * fs.bsize;
    const stored = statSync(config.store.path, { throwIfNoEntry: false })?.size ?? 0;
    const budget = config.store.maxDiskMB * 1024 * 1024;
    const room = free + stored;
    const detail = `${formatBytes(free)} free, store.maxDiskMB ${config.store.maxDiskMB} MiB`;
    if (room < budget) {
      return {
        ...item,
        ok: false,
        detail: `${detail}: the disk would fill before the budget protects it; lower store.maxDiskMB or free space`,
      };
    }
    return { ...item, ok: true, detail };
  } catch (err) {
    return { ...item, ok: false, detail: describeError(err) };
  }
}

/** health.listen can be bound; in use is a warning (most likely the agent itself, running). */
export async function checkListen(config: AgentConfig): Promise<CheckItem> {
  const listen = config.health.listen;
  const item = { kind: 'http' as const, id: listen };
  const split = listen.lastIndexOf(':');
  const host = listen.slice(0, split) || '0.0.0.0';
  const port = Number(listen.slice(split + 1));
  const server = createServer();
  try {
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen({ host, port, exclusive: true }, () => res());
    });
    await new Promise<void>((res) => server.close(() => res()));
    return { ...item, ok: true, detail: `${host}:${port} can be bound` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      return {
        ...item,
        ok: true,
        warning: true,
        detail: `port ${port} is in use: is the agent already running?`,
      };
    }
    const why =
      code === 'EADDRNOTAVAIL'
        ? `no interface of this machine has the address ${host}`
        : code === 'EACCES'
          ? `port ${port} needs privileges (use a port above 1023)`
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? `host ${host} does not resolve`
            : describeError(err);
    return { ...item, ok: false, detail: `cannot listen on ${listen}: ${why}` };
  }
}

export async function checkBroker(config: AgentConfig): Promise<CheckItem> {
  const id = redactUrl(config.mqtt.url);
  try {
    const client = await withTimeout(
      mqtt.connectAsync(config.mqtt.url, {
        reconnectPeriod: 0,
        connectTimeout: PROBE_TIMEOUT_MS,
        clientId: `edge-agent-check-${config.agent.id}-${process.pid}`,
        ...(config.mqtt.username ? { username: config.mqtt.username } : {}),
        ...(config.mqtt.password ? { password: config.mqtt.password } : {}),
        // the same TLS material the agent uses, or an mqtts:// broker requiring client certificates fails here
        ...(config.mqtt.ca ? { ca: readFileSync(config.mqtt.ca) } : {}),
        ...(config.mqtt.cert ? { cert: readFileSync(config.mqtt.cert) } : {}),
        ...(config.mqtt.key ? { key: readFileSync(config.mqtt.key) } : {}),
      }),
      PROBE_TIMEOUT_MS + 500,
      () => new AgentError(ErrorCodes.MQTT_CONNECT, 'no answer within 5 s'),
    );
    await client.endAsync();
    return { kind: 'broker', id, ok: true, detail: 'connected' };
  } catch (err) {
    return { kind: 'broker', id, ok: false, detail: explainMqttError(err) };
  }
}

/** The version `run` would start: the one recorded active after a promotion, else the configured one. */
export async function checkModel(
  config: AgentConfig,
  model: AgentConfig['models'][number],
  log: Logger,
): Promise<CheckItem> {
  const item = { kind: 'model' as const, id: model.id };
  try {
    const deployment = new ModelDeployment(model, {
      log: log.child({ model: model.id }),
      clock: systemClock,
      versionsDir: versionsDirOf(config.store.path, model),
    });
    await deployment.start();
    const s = deployment.snapshot();
    await deployment.stop();
    return {
      ...item,
      ok: s.state === 'ready',
      detail:
        s.state === 'ready'
          ? `version ${s.version} on ${s.provider}, golden images passed`
          : (s.error ?? `state ${s.state}`),
    };
  } catch (err) {
    return { ...item, ok: false, detail: describeError(err) };
  }
}

/** One frame from the camera; a stream is probed without its watchdog, so a failure is ffmpeg's own words. */
export async function checkCamera(config: CameraConfig, log: Logger): Promise<CheckItem> {
  const item = { kind: 'camera' as const, id: config.id };
  if (config.source.type === 'folder') {
    try {
      accessSync(config.source.path, constants.R_OK);
      const files = readdirSync(config.source.path).length;
      return { ...item, ok: true, detail: `folder ${config.source.path} readable (${files} entries)` };
    } catch (err) {
      return { ...item, ok: false, detail: describeError(err) };
    }
  }
  const source = createSource(config.source, { clock: systemClock, log, unwatched: true });
  const abort = new AbortController();
  try {
    const frame = await withTimeout(
      source.next(abort.signal),
      PROBE_TIMEOUT_MS,
      () => new AgentError(ErrorCodes.CAMERA_TIMEOUT, `no frame within ${PROBE_TIMEOUT_MS / 1000} s`),
    );
    return { ...item, ok: true, detail: `${source.kind} delivered a frame (${frame.data.length} bytes)` };
  } catch (err) {
    const said = diagnostics(source).filter((l) => !describeError(err).includes(l));
    const tail = said.length > 0 ? `; ffmpeg said: ${said.slice(-3).join(' | ')}` : '';
    return { ...item, ok: false, detail: `${describeError(err)}${tail}` };
  } finally {
    abort.abort();
    await source.close();
  }
}

function diagnostics(source: object): string[] {
  const read = (source as { recentDiagnostics?: () => string[] }).recentDiagnostics;
  return typeof read === 'function' ? read.call(source).filter((l) => l.trim() !== '') : [];
}

/** The PLC answers on its Modbus TCP port (the handshake itself needs the line running). */
export async function checkPlc(camera: string, plc: PlcConfig): Promise<CheckItem> {
  const id = `${camera} ${plc.host}:${plc.port}`;
  try {
    await new Promise<void>((res, rej) => {
      const socket = createConnection({ host: plc.host, port: plc.port });
      const timer = setTimeout(() => {
        socket.destroy();
        rej(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`));
      }, PROBE_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.end();
        res();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        rej(err);
      });
    });
    return { kind: 'plc', id, ok: true, detail: `Modbus TCP port open (unit ${plc.unitId})` };
  } catch (err) {
    return { kind: 'plc', id, ok: false, detail: `cannot connect: ${describeError(err)}` };
  }
}
