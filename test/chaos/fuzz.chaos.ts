import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import sharp from 'sharp';
import t from 'tap';
import { encodedFrameProblem } from '../../agent/capture/image-check.js';
import { parseConfigText } from '../../agent/config/index.js';
import { AgentError } from '../../agent/errors.js';
import { loadManifest, preprocess } from '../../agent/inference/index.js';
import { SAMPLES, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/brokers.js';
import { freePort, waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';
import { procUsage, recordFigures, rng, scaled } from './chaos-lib.js';

// Scenario 6 (docs/reliability.md): thousands of generated cases against every input the agent reads:
// MQTT requests and HTTP routes of the running agent, the config loader, the image decoder. No crash, no
// hang (each case is bounded by HANG_MS), a clear, bounded error each time, the agent's RSS reported.
const CASES = scaled(1_000, 10_000);
const PER_SURFACE = Math.ceil(CASES / 4);
const HANG_MS = 15_000;
const MAX_ERROR_CHARS = 4_096;
// a config error lists up to 50 problems (agent/config/load.ts MAX_PROBLEMS), each bounded
const MAX_CONFIG_ERROR_CHARS = 32_768;
const random = rng();

function deep(depth: number, leaf: unknown = 1): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = random.next() < 0.5 ? [v] : { a: v };
  return v;
}

function randomJsonValue(level = 0): unknown {
  const kind = random.int(0, level > 3 ? 4 : 7);
  switch (kind) {
    case 0:
      return random.int(-1e9, 1e9);
    case 1:
      return random.next() < 0.5;
    case 2:
      return null;
    case 3:
      return 'x'.repeat(random.pick([0, 1, 10, 1000, 100_000]));
    case 4:
      return random.pick(['cam-1', 'washer', '', '../../etc/passwd', '\u0000', 'OK', 'NG', '1e309']);
    case 5:
      return Array.from({ length: random.int(0, 5) }, () => randomJsonValue(level + 1));
    case 6: {
      const o: Record<string, unknown> = {};
      for (const k of [
        'camera',
        'enabled',
        'decisionId',
        'actual',
        'verdict',
        'model',
        'version',
        'recipe',
        '__proto__',
        'constructor',
        'transaction',
      ]) {
        if (random.next() < 0.3) o[k] = randomJsonValue(level + 1);
      }
      return o;
    }
    default:
      return deep(random.int(10, 500));
  }
}

/** A request payload: JSON (flat, nested deep, huge), or not JSON at all. */
function randomPayload(): Buffer {
  const kind = random.int(0, 5);
  if (kind === 0) return random.bytes(random.int(0, 2048));
  if (kind === 1) return Buffer.from('{'.repeat(random.int(1, 50_000)));
  if (kind === 2) return Buffer.from(`{"camera":"${'\\u0000'.repeat(random.int(1, 1000))}"`);
  if (kind === 3) {
    // nested 1,000 to 20,000 deep, written as text (issue 16 failure 1 was about 5,000)
    const n = random.int(1_000, 20_000);
    return Buffer.from(`{"camera":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`);
  }
  return Buffer.from(JSON.stringify(randomJsonValue()));
}

const REQUESTS = [
  'trigger',
  'outcome',
  'override',
  'model/promote',
  'model/rollback',
  'model/delete',
  'drift/baseline',
  'recipe/select',
  'nope',
  'a/b/c',
];

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`HANG: ${what} took over ${HANG_MS} ms`)), HANG_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

t.test(`${PER_SURFACE} config texts: a ConfigError or a config, never anything else`, async (t) => {
  const base = readFileSync(join(import.meta.dirname, '../../agent.yaml'), 'utf8');
  const failures: string[] = [];
  let refused = 0;
  let maxMs = 0;
  let longest = 0;
  for (let i = 0; i < PER_SURFACE; i++) {
    const kind = i % 6;
    let text: string;
    if (kind === 0) text = random.bytes(random.int(0, 4096)).toString('latin1');
    else if (kind === 1) {
      // mutate the shipped config: flip, drop or duplicate a slice
      const a = random.int(0, base.length);
      const b = Math.min(base.length, a + random.int(1, 200));
      text = random.next() < 0.5 ? base.slice(0, a) + base.slice(b) : base.slice(0, b) + base.slice(a);
    } else if (kind === 2) {
      const n = random.int(3, 12);
      text = `a: &a ["x","x","x","x","x","x","x","x","x"]\n${Array.from({ length: n }, (_, k) => `${String.fromCharCode(98 + k)}: &${String.fromCharCode(98 + k)} [*${String.fromCharCode(97 + k)},*${String.fromCharCode(97 + k)},*${String.fromCharCode(97 + k)},*${String.fromCharCode(97 + k)}]`).join('\n')}\n`;
    } else if (kind === 3) text = `agent: ${'['.repeat(random.int(100, 20_000))}`;
    else if (kind === 4) text = `agent: { id: ${'x'.repeat(random.int(1, 1_000_000))} }\n`;
    else text = Array.from({ length: random.int(1, 5000) }, (_, k) => `k${k}: ${k}`).join('\n');
    const started = Date.now();
    try {
      parseConfigText(text, 'fuzz.yaml', {});
    } catch (err) {
      refused++;
      const message = (err as Error).message ?? '';
      if (!(err instanceof AgentError))
        failures.push(`case ${i}: ${(err as Error).name}: ${message.slice(0, 200)}`);
      else if (message.length > MAX_CONFIG_ERROR_CHARS)
        failures.push(`case ${i}: a ${message.length}-char message`);
      longest = Math.max(longest, message.length);
    }
    maxMs = Math.max(maxMs, Date.now() - started);
  }
  t.same(failures.slice(0, 10), [], 'every refusal is a coded error with a bounded message');
  recordFigures(t, '6-fuzz-config', {
    cases: PER_SURFACE,
    refused,
    longestErrorChars: longest,
    slowestCaseMs: maxMs,
    crashes: failures.length,
  });
});

t.test(`${PER_SURFACE} images through the frame check and the decoder`, async (t) => {
  const { manifest } = loadManifest(WASHER_MODEL);
  const jpeg = readFileSync(join(SAMPLES, '0001.jpg'));
  const png = await sharp(jpeg).png().toBuffer();
  const svgBomb = Buffer.from(
    `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "${'x'.repeat(64)}"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><text>&c;&c;&c;</text></svg>`,
  );
  const failures: string[] = [];
  let refused = 0;
  let decoded = 0;
  let maxMs = 0;
  for (let i = 0; i < PER_SURFACE; i++) {
    const src = random.pick([jpeg, png]);
    let data: Buffer;
    switch (i % 5) {
      case 0:
        data = random.bytes(random.int(0, 4096));
        break;
      case 1:
        data = Buffer.concat([src.subarray(0, random.int(0, src.length)), Buffer.from([0xff, 0xd9])]);
        break;
      case 2: {
        data = Buffer.from(src);
        for (let k = random.int(1, 20); k > 0; k--) data[random.int(0, data.length - 1)] = random.int(0, 255);
        break;
      }
      case 3:
        data = svgBomb;
        break;
      default:
        data = src.subarray(0, random.int(0, src.length));
    }
    const started = Date.now();
    const problem = encodedFrameProblem(data);
    if (problem) {
      refused++;
      if (problem.length > MAX_ERROR_CHARS) failures.push(`case ${i}: a ${problem.length}-char problem`);
    } else {
      try {
        await bounded(
          preprocess({ kind: 'encoded', data, capturedAt: Date.now() }, manifest.input),
          `image ${i}`,
        );
        decoded++;
      } catch (err) {
        refused++;
        const message = (err as Error).message ?? '';
        if (/HANG/.test(message)) failures.push(message);
        else if (message.length > MAX_ERROR_CHARS)
          failures.push(`case ${i}: a ${message.length}-char message`);
      }
    }
    maxMs = Math.max(maxMs, Date.now() - started);
  }
  t.same(failures.slice(0, 10), [], 'every image decodes or is refused with a bounded reason, none hangs');
  recordFigures(t, '6-fuzz-images', {
    cases: PER_SURFACE,
    refused,
    decoded,
    slowestCaseMs: maxMs,
    failures: failures.length,
  });
});

t.test(`${PER_SURFACE} MQTT requests and ${PER_SURFACE} HTTP requests against a running agent`, async (t) => {
  if (!requireTool(t, 'mosquitto', 'requests travel through a real broker')) return;
  const broker = await startMosquitto({ extraConfig: 'max_queued_messages 0' });
  t.teardown(() => broker.stop());
  const dir = tempDir('eva-chaos-fuzz-');
  const httpPort = await freePort();
  const token = 'fuzz-token-0123456789';
  const config = writeConfig(
    dir,
    `agent: { id: chaos-fuzz }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/fuzz, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:${httpPort}", token: ${token} }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: mqtt }, model: washer }
`,
  );
  const agent = spawnAgent(['run', '-c', config], { env: { LOG_LEVEL: 'warn' } });
  t.teardown(() => agent.stop('SIGKILL'));
  const base = `http://127.0.0.1:${httpPort}`;
  await waitFor(
    async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
    60_000,
    'ready',
  );
  const pid = agent.proc.pid as number;
  const startUsage = procUsage(pid);

  const client = await mqtt.connectAsync(broker.url, { clientId: `chaos-fuzz-${process.pid}` });
  t.teardown(() => client.endAsync());
  const responses: { topic: string; size: number; body: Record<string, unknown> | undefined }[] = [];
  client.on('message', (topic, payload) => {
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(payload.toString());
    } catch {
      body = undefined;
    }
    responses.push({ topic, size: payload.length, body });
  });
  await client.subscribeAsync('t/fuzz/response/#', { qos: 1 });
  let mqttBytes = 0;
  for (let i = 0; i < PER_SURFACE; i++) {
    const payload = randomPayload();
    mqttBytes += payload.length;
    await bounded(
      client.publishAsync(`t/fuzz/request/${random.pick(REQUESTS)}`, payload, { qos: 1 }),
      `publish ${i}`,
    );
  }
  // a probe at the end: the agent still answers requests in order
  await client.publishAsync('t/fuzz/request/nope', JSON.stringify({ transaction: 'probe' }), { qos: 1 });
  await waitFor(() => responses.some((r) => r.body?.transaction === 'probe'), 60_000, 'the probe answered');

  const httpFailures: string[] = [];
  const statuses = new Map<number, number>();
  const routes = [
    '/api/trigger',
    '/api/outcome',
    '/api/override',
    '/api/model/promote',
    '/api/decisions',
    '/api/status',
    '/api/decisions/x',
    '/api/decisions/x/image',
    '/api/cameras/cam-1/snapshot',
    '/api/drift',
    '/readyz',
    '/metrics',
    '/api/model/upload',
    `/api/${'a/'.repeat(500)}`,
    '/%',
    '/api/decisions?limit=-1&from=zz',
  ];
  for (let i = 0; i < PER_SURFACE; i++) {
    const method = random.pick(['GET', 'POST', 'PUT', 'DELETE', 'POST', 'POST']);
    const headers: Record<string, string> = {};
    if (random.next() < 0.6) headers.authorization = `Bearer ${random.next() < 0.8 ? token : 'wrong'}`;
    if (random.next() < 0.7)
      headers['content-type'] = random.pick([
        'application/json',
        'text/plain',
        'application/json; charset=x',
        ';;;',
        'multipart/form-data; boundary=zz',
      ]);
    const body = method === 'GET' ? undefined : randomPayload();
    const res = await bounded(
      fetch(`${base}${random.pick(routes)}`, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(HANG_MS),
      }).then(
        async (r) => ({ status: r.status, size: (await r.arrayBuffer()).byteLength }),
        (err: Error) => ({ status: 0, size: 0, err: err.message }),
      ),
      `http ${i}`,
    );
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.status === 0 || (res.status >= 500 && res.status !== 503))
      httpFailures.push(`case ${i}: ${method} ${res.status}`);
  }
  const endUsage = procUsage(pid);
  const alive = agent.proc.exitCode === null && agent.proc.signalCode === null;
  t.ok(alive, 'the agent is still running');
  t.equal((await fetch(`${base}/healthz`)).status, 200, '/healthz 200 after the fuzzing');
  t.same(httpFailures.slice(0, 10), [], 'no HTTP request got a 5xx (other than /readyz 503) or no answer');
  const errors = responses.filter((r) => r.body?.status === 'error');
  t.ok(
    responses.every((r) => r.body !== undefined),
    'every MQTT response is JSON',
  );
  t.ok(
    errors.every(
      (r) => typeof r.body?.code === 'string' && r.body.code.length > 0 && r.size < MAX_ERROR_CHARS,
    ),
    'every error response has a code and is bounded',
  );
  t.equal(await agent.stop('SIGTERM'), 0, 'a clean stop');
  recordFigures(t, '6-fuzz-agent', {
    mqttCases: PER_SURFACE,
    mqttBytes,
    mqttResponses: responses.length,
    mqttErrorResponses: errors.length,
    httpCases: PER_SURFACE,
    httpStatuses: Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])),
    rssKB: { start: startUsage.rssKB, end: endUsage.rssKB },
    fds: { start: startUsage.fds, end: endUsage.fds },
    crashes: alive ? 0 : 1,
  });
});
