import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import t, { type Test } from 'tap';
import { Agent } from '../../agent/app.js';
import { parseConfigText } from '../../agent/config/index.js';
import { BIN, REPO, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/net.js';
import { makePki, type SecureBroker, startSecureMosquitto, type TestPki } from '../helpers/secure-broker.js';
import { requireTool } from '../helpers/tools.js';

const TOKEN = 'sec-token-1';
const PASSWORD = 'Pw-9f3c2a7e-right';
const WRONG = 'Pw-0b1d44e6-wrong';

interface Creds {
  ca: string;
  cert?: string;
  key?: string;
  username?: string;
  password?: string;
}

/**
 * The agent in-process against the secure broker; every log line, debug included and with no redaction, is
 * kept, so the test proves credentials never reach a log line at all (not merely that pino masks them).
 */
async function startAgent(t: Test, url: string, creds: Creds, dir = tempDir('eva-sec-'), mqttExtra = '') {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
  const opt = (k: string, v: string | undefined) => (v === undefined ? '' : `, ${k}: "${v}"`);
  const config = parseConfigText(
    `agent: { id: sec-test }
store: { path: ${dir}/agent.db }
mqtt: { url: "${url}", topicRoot: t/sec, reconnectMinMs: 100, reconnectMaxMs: 400${opt('ca', creds.ca)}${opt('cert', creds.cert)}${opt('key', creds.key)}${opt('username', creds.username)}${opt('password', creds.password)}${mqttExtra} }
health: { listen: "127.0.0.1:0", token: ${TOKEN} }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${join(REPO, 'samples/washer')}, loop: true }, trigger: { type: mqtt }, model: washer, deadlineMs: 3000 }
`,
    'test',
    {},
  );
  const agent = new Agent(config, { log });
  await agent.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await agent.stop();
  };
  t.teardown(stop);
  const base = `http://127.0.0.1:${agent.http.port}`;
  const trigger = async (partId: string) => {
    const res = await fetch(`${base}/api/trigger`, {
      method: 'POST',
      body: JSON.stringify({ camera: 'cam-1', partId }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    });
    if (res.status !== 200) throw new Error(`trigger: HTTP ${res.status} ${await res.text()}`);
  };
  const status = async () =>
    (await (await fetch(`${base}/api/status`)).json()) as {
      mqtt: { connected: boolean; lastError: string | null; url: string };
      sparkplug: { connected: boolean; lastError: string | null; bdSeq: number | null } | null;
      store: { backlog: number; lastSeq: number };
    };
  return { agent, dir, lines, trigger, status, stop };
}

/** The plant's side: a subscriber with the right credentials. */
async function plant(t: Test, broker: SecureBroker, pki: TestPki) {
  const got: { partId: string; historical: boolean }[] = [];
  const client: MqttClient = await mqtt.connectAsync(broker.url, {
    reconnectPeriod: 0,
    ca: readFileSync(pki.ca),
    cert: readFileSync(pki.clientCert),
    key: readFileSync(pki.clientKey),
    username: 'plant',
    password: 'plant-pw',
  });
  client.on('message', (_topic, payload) => got.push(JSON.parse(payload.toString())));
  await client.subscribeAsync('t/sec/decisions/#', { qos: 1 });
  t.teardown(() => client.endAsync());
  return got;
}

/** No password, and no line of a private key's body, anywhere in the log. */
function assertNoSecrets(t: Test, lines: string[], pki: TestPki) {
  const all = lines.join('');
  t.ok(lines.length > 5, 'the agent logged (debug level)');
  t.notOk(all.includes(PASSWORD), 'the password never appears in the log');
  t.notOk(all.includes(WRONG), 'nor a wrong one');
  const keyBody = readFileSync(pki.clientKey, 'utf8').split('\n')[1] ?? 'no key line';
  t.ok(keyBody.length > 40);
  t.notOk(all.includes(keyBody), 'the private key contents never appear in the log');
  t.notOk(all.includes('PRIVATE KEY'), 'no PEM block at all');
}

let pki: TestPki;
let broker: SecureBroker;
t.before(async () => {
  if (!requireTool(t, 'mosquitto', 'the security tests need a real MQTT broker with TLS')) return;
  if (!requireTool(t, 'openssl', 'the security tests make their certificates with openssl')) return;
  pki = makePki();
  broker = await startSecureMosquitto({ pki, users: { agent: PASSWORD, plant: 'plant-pw' } });
});
t.teardown(() => broker?.stop());

const right = (): Creds => ({
  ca: pki.ca,
  cert: pki.clientCert,
  key: pki.clientKey,
  username: 'agent',
  password: PASSWORD,
});

t.test(
  'mqtts with a client certificate and a password: decisions delivered, nothing secret logged',
  async (t) => {
    const got = await plant(t, broker, pki);
    const a = await startAgent(t, broker.url, right());
    await waitFor(() => a.agent.link.connected, 10_000, 'TLS connection');
    await a.trigger('TLS-1');
    await waitFor(() => got.some((d) => d.partId === 'TLS-1'), 10_000, 'decision at the plant');
    const s = await a.status();
    t.equal(s.mqtt.connected, true);
    t.equal(s.mqtt.lastError, null);
    t.match(s.mqtt.url, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    await a.stop();
    assertNoSecrets(t, a.lines, pki);
  },
);

t.test(
  'a wrong password is refused as "not authorized"; decisions buffer and go out once it is fixed',
  async (t) => {
    const got = await plant(t, broker, pki);
    const a = await startAgent(t, broker.url, { ...right(), password: WRONG });
    await waitFor(async () => (await a.status()).mqtt.lastError, 10_000, 'a refusal');
    const s = await a.status();
    t.equal(s.mqtt.connected, false);
    t.match(s.mqtt.lastError, /not authorized/, `clear reason: ${s.mqtt.lastError}`);
    t.notMatch(s.mqtt.lastError, /timeout|timed out/i, 'not a generic timeout');
    t.ok(
      a.lines.some((l) => l.includes('not authorized')),
      'and in the log',
    );

    for (const p of ['BUF-1', 'BUF-2', 'BUF-3']) await a.trigger(p);
    t.equal((await a.status()).store.backlog, 3, 'decisions keep being stored while refused');
    // still refused on later attempts: the backlog is not lost to retries
    const reconnects = a.agent.link.snapshot().reconnects;
    await waitFor(() => a.agent.link.snapshot().reconnects > reconnects + 1, 10_000, 'more attempts');
    t.equal((await a.status()).store.backlog, 3);
    await a.stop();
    assertNoSecrets(t, a.lines, pki);

    // the engineer fixes the password; the same store's backlog reaches the plant, flagged historical
    const b = await startAgent(t, broker.url, right(), a.dir);
    await waitFor(async () => (await b.status()).store.backlog === 0, 15_000, 'backlog delivered');
    t.same(
      got.filter((d) => d.partId.startsWith('BUF-')).map((d) => [d.partId, d.historical]),
      [
        ['BUF-1', true],
        ['BUF-2', true],
        ['BUF-3', true],
      ],
    );
    await b.stop();
    assertNoSecrets(t, b.lines, pki);
  },
);

t.test('certificate problems are named, not reported as timeouts; decisions keep buffering', async (t) => {
  const cases: { name: string; creds: Creds; reason: RegExp }[] = [
    {
      name: 'client certificate from another CA',
      creds: { ...right(), cert: pki.foreignCert, key: pki.foreignKey },
      reason: /does not trust our client certificate/,
    },
    {
      name: 'expired client certificate',
      creds: { ...right(), cert: pki.expiredCert, key: pki.expiredKey },
      reason: /client certificate: it has expired/,
    },
    {
      name: 'no client certificate',
      creds: { ca: pki.ca, username: 'agent', password: PASSWORD },
      reason: /requires a client certificate/,
    },
    {
      name: 'the broker certificate is not from our CA',
      creds: { ...right(), ca: pki.foreignCa },
      reason: /broker's certificate is not trusted/,
    },
  ];
  for (const c of cases) {
    const a = await startAgent(t, broker.url, c.creds);
    await waitFor(async () => (await a.status()).mqtt.lastError, 10_000, `${c.name}: a refusal`);
    const s = await a.status();
    t.equal(s.mqtt.connected, false, c.name);
    t.match(s.mqtt.lastError, c.reason, `${c.name}: ${s.mqtt.lastError}`);
    t.ok(
      a.lines.some((l) => c.reason.test(l)),
      `${c.name}: the reason is in the log`,
    );
    await a.trigger(`CERT-${c.name}`);
    t.equal((await a.status()).store.backlog, 1, `${c.name}: the decision is stored and waits`);
    await a.stop();
    assertNoSecrets(t, a.lines, pki);
  }
});

t.test('edge-agent check probes the broker with the same TLS material and names a refusal', async (t) => {
  const check = (creds: Creds) => {
    const dir = tempDir('eva-sec-check-');
    const opt = (k: string, v: string | undefined) => (v === undefined ? '' : `, ${k}: "${v}"`);
    const file = writeConfig(
      dir,
      `agent: { id: sec-check }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}"${opt('ca', creds.ca)}${opt('cert', creds.cert)}${opt('key', creds.key)}${opt('username', creds.username)}${opt('password', creds.password)} }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${join(REPO, 'samples/washer')}, loop: true }, trigger: { type: mqtt }, model: washer }
`,
    );
    const r = spawnSync(process.execPath, [BIN, 'check', '--json', '-c', file], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    // log lines (one JSON object each) share stdout with the report (pretty-printed): take the report
    const out = JSON.parse(r.stdout.slice(r.stdout.indexOf('{\n  "ok"'))) as {
      items: { kind: string; ok: boolean; detail: string }[];
    };
    return { broker: out.items.find((i) => i.kind === 'broker'), output: r.stdout + r.stderr };
  };
  const good = check(right());
  t.equal(good.broker?.ok, true, `right credentials: ${good.broker?.detail}`);
  const bad = check({ ...right(), password: WRONG });
  t.equal(bad.broker?.ok, false);
  t.match(bad.broker?.detail, /not authorized/);
  t.notOk(bad.output.includes(WRONG) || good.output.includes(PASSWORD), 'no password in its output');
});

t.test(
  'the Sparkplug session uses the same TLS and password, and names a refusal the same way',
  async (t) => {
    const sparkplug = ', format: both, sparkplug: { groupId: plant-a }';
    const a = await startAgent(t, broker.url, right(), undefined, sparkplug);
    await waitFor(async () => (await a.status()).sparkplug?.connected, 10_000, 'edge node born over TLS');
    t.equal((await a.status()).mqtt.connected, true, 'the JSON link too');
    await a.stop();
    assertNoSecrets(t, a.lines, pki);

    const b = await startAgent(t, broker.url, { ...right(), password: WRONG }, undefined, sparkplug);
    await waitFor(async () => (await b.status()).sparkplug?.lastError, 10_000, 'a refusal');
    const s = await b.status();
    t.equal(s.sparkplug?.connected, false);
    t.match(s.sparkplug?.lastError, /not authorized/);
    await b.trigger('SPB-1');
    t.equal(s.store.backlog + 1, (await b.status()).store.backlog, 'the decision waits in the store');
    await b.stop();
    assertNoSecrets(t, b.lines, pki);
  },
);
