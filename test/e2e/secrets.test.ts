import t from 'tap';
import { agentHttp } from '../helpers/agent-http.js';
import { spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { collect, startMosquitto } from '../helpers/brokers.js';
import { startSnapshotServer } from '../helpers/camera-servers.js';
import { freePort, waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

// Every secret the config can hold, each a distinct marker, and an agent that uses and fails with all of
// them: a camera that refuses its password, one that is not there, an RTSP camera whose URL carries user
// info and a password in its query, a broker URL with user info, the HTTP token. None of the markers may
// appear in a log line, /api/status, /metrics, /readyz, an error response, R/health, a decision's reason
// or an alert.

const SECRETS = {
  mqttUrl: 'S3CRET-mqtturl-4e1',
  token: 'S3CRET-token-9b2',
  camPassword: 'S3CRET-campw-7c3',
  camUrl: 'S3CRET-camurl-1d8',
  camQuery: 'S3CRET-camquery-5a0',
  rtspUrl: 'S3CRET-rtspurl-2f6',
  rtspQuery: 'S3CRET-rtspquery-8e4',
};

function leaks(where: string, text: string): string[] {
  return Object.entries(SECRETS)
    .filter(([, secret]) => text.includes(secret))
    .map(([name]) => `${name} in ${where}`);
}

t.test('no secret from the config reaches logs, status, metrics, responses or MQTT', async (t) => {
  if (!requireTool(t, 'mosquitto', 'the broker the agent talks to')) return;
  if (!requireTool(t, 'ffmpeg', 'the RTSP camera is read through ffmpeg')) return;
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const camera = await startSnapshotServer({ auth: { scheme: 'digest', user: 'viewer', pass: 'right' } });
  t.teardown(() => camera.stop());
  const dead = await freePort();
  const dir = tempDir();
  const httpPort = await freePort();
  const config = writeConfig(
    dir,
    `agent: { id: e2e-secrets }
store: { path: ${dir}/agent.db }
mqtt: { url: "mqtt://agent:${SECRETS.mqttUrl}@127.0.0.1:${broker.port}", topicRoot: s/e2e }
health: { listen: "127.0.0.1:${httpPort}", token: ${SECRETS.token} }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - id: cam-auth
    source: { type: http, url: "${camera.base}/snapshot.jpg", username: viewer, password: ${SECRETS.camPassword} }
    trigger: { type: mqtt }
    model: washer
  - id: cam-gone
    source: { type: http, url: "http://viewer:${SECRETS.camUrl}@127.0.0.1:${dead}/snap.jpg?token=${SECRETS.camQuery}" }
    trigger: { type: mqtt }
    model: washer
  - id: cam-rtsp
    source: { type: rtsp, url: "rtsp://u:${SECRETS.rtspUrl}@127.0.0.1:${dead}/cam?pwd=${SECRETS.rtspQuery}", noFrameTimeoutMs: 2000 }
    trigger: { type: mqtt }
    model: washer
`,
  );
  const plant = await collect(broker.url, 's/e2e/#');
  t.teardown(() => plant.end());
  const agent = spawnAgent(['run', '-c', config]);
  t.teardown(() => agent.stop('SIGKILL'));
  const http = agentHttp(httpPort);
  await waitFor(async () => (await http.status())?.mqtt.connected, 60_000, 'the agent up and connected');

  const bodies: [string, string][] = [];
  const get = async (path: string) => {
    const res = await fetch(`${http.base}${path}`);
    bodies.push([`GET ${path}`, await res.text()]);
  };
  const post = async (path: string, body: string, token?: string) => {
    const res = await fetch(`${http.base}${path}`, {
      method: 'POST',
      body,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    bodies.push([`POST ${path}`, await res.text()]);
  };
  // each camera fails its own way; the answers carry the reasons
  for (const cam of ['cam-auth', 'cam-gone'])
    await post('/api/trigger', JSON.stringify({ camera: cam }), SECRETS.token);
  await post('/api/trigger', '{"camera":"cam-auth"}', 'wrong-token');
  await post('/api/trigger', '{"camera":"cam-auth"}', `${SECRETS.token}x`);
  // the RTSP camera fails and restarts a few times (its watchdog logs each, with ffmpeg's last lines)
  await waitFor(
    () => agent.logs().filter((l) => String(l.msg ?? '').includes('ffmpeg')).length >= 2,
    30_000,
    'the RTSP camera failing',
  );
  await waitFor(() => plant.messages.some((m) => m.topic === 's/e2e/health'), 40_000, 'R/health');
  for (const path of ['/api/status', '/metrics', '/readyz', '/api/decisions', '/api/requests?limit=50'])
    await get(path);
  t.equal(await agent.stop('SIGTERM'), 0);

  const found = [
    ...leaks('the logs', agent.output()),
    ...bodies.flatMap(([where, body]) => leaks(where, body)),
    ...plant.messages.flatMap((m) => leaks(m.topic, m.payload)),
  ];
  t.same(found, [], 'no secret anywhere');
  // and the failures are still explained, with the URLs masked
  const status = bodies.find(([where]) => where === 'GET /api/status')?.[1] ?? '';
  t.match(status, /cam-rtsp/);
  t.match(agent.output(), /rtsp:\/\/\*\*\*:\*\*\*@127\.0\.0\.1/);
  t.ok(
    plant.messages.some((m) => m.topic === 's/e2e/decisions/cam-auth'),
    'the refused camera gave a decision',
  );
});
