import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import type { Logger } from 'pino';
import { createSource } from './capture/index.js';
import type { AgentConfig, CameraConfig } from './config/index.js';
import { AgentError, describeError, ErrorCodes } from './errors.js';
import { ModelDeployment, versionsDirOf } from './models/index.js';
import { systemClock, withTimeout } from './service.js';
import { DecisionStore } from './store/index.js';
import { explainMqttError, redactUrl } from './sync/index.js';

export interface CheckItem {
  kind: 'store' | 'model' | 'camera' | 'broker';
  id: string;
  ok: boolean;
  detail: string;
}

const PROBE_TIMEOUT_MS = 5_000;

/** `edge-agent check`: everything `run` would need, tried once, reported together. */
export async function runCheck(config: AgentConfig, log: Logger, json: boolean): Promise<number> {
  const items: CheckItem[] = [];
  items.push(checkStore(config, log));
  for (const m of config.models) items.push(await checkModel(config, m, log));
  for (const c of config.cameras) items.push(await checkCamera(c, log));
  items.push(await checkBroker(config));
  const ok = items.every((i) => i.ok);
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok, items }, null, 2)}\n`);
  } else {
    for (const i of items)
      process.stdout.write(`${i.ok ? 'ok  ' : 'FAIL'}  ${i.kind} ${i.id}: ${i.detail}\n`);
    process.stdout.write(ok ? 'all good\n' : `${items.filter((i) => !i.ok).length} problem(s) found\n`);
  }
  return ok ? 0 : 1;
}

function checkStore(config: AgentConfig, log: Logger): CheckItem {
  try {
    const store = DecisionStore.open({ path: config.store.path, agentId: config.agent.id, log });
    const writable = store.writable();
    const stats = store.stats();
    store.close();
    return {
      kind: 'store',
      id: config.store.path,
      ok: writable,
      detail: writable ? `last seq ${stats.lastSeq}, backlog ${stats.backlog}` : 'not writable',
    };
  } catch (err) {
    return { kind: 'store', id: config.store.path, ok: false, detail: describeError(err) };
  }
}

/** The version `run` would start: the one recorded active after a promotion, else the configured one. */
async function checkModel(
  config: AgentConfig,
  model: AgentConfig['models'][number],
  log: Logger,
): Promise<CheckItem> {
  const deployment = new ModelDeployment(model, {
    log: log.child({ model: model.id }),
    clock: systemClock,
    versionsDir: versionsDirOf(config.store.path, model),
  });
  await deployment.start();
  const s = deployment.snapshot();
  await deployment.stop();
  return {
    kind: 'model',
    id: model.id,
    ok: s.state === 'ready',
    detail:
      s.state === 'ready'
        ? `version ${s.version} on ${s.provider}, golden images passed`
        : (s.error ?? `state ${s.state}`),
  };
}

async function checkCamera(config: CameraConfig, log: Logger): Promise<CheckItem> {
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
  const source = createSource(config.source, { clock: systemClock, log });
  const abort = new AbortController();
  try {
    const frame = await withTimeout(
      source.next(abort.signal),
      PROBE_TIMEOUT_MS,
      () => new AgentError(ErrorCodes.CAMERA_TIMEOUT, 'no frame within 5 s'),
    );
    return { ...item, ok: true, detail: `${source.kind} delivered a frame (${frame.data.length} bytes)` };
  } catch (err) {
    return { ...item, ok: false, detail: describeError(err) };
  } finally {
    abort.abort();
    await source.close();
  }
}

async function checkBroker(config: AgentConfig): Promise<CheckItem> {
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
