import t from 'tap';
import { Agent } from '../../agent/app.js';
import { parseConfigText } from '../../agent/config/index.js';
import { tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { collect, startAedes } from '../helpers/brokers.js';
import { startRtspCamera } from '../helpers/camera-servers.js';
import { quietLog } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

t.test(
  'an RTSP camera dies mid-run: down alert, fallback verdicts, recovery, every trigger accounted for',
  async (t) => {
    if (!requireTool(t, 'ffmpeg', 'the RTSP source decodes with it')) return;
    if (!requireTool(t, 'rtsp-server-perl', 'it serves the test RTSP stream')) return;
    let camera = await startRtspCamera({ width: 320, height: 240, fps: 10 });
    t.teardown(() => camera.stop());
    const broker = await startAedes();
    t.teardown(() => broker.stop());
    const sub = await collect(broker.url, 't/cam/alerts');
    t.teardown(() => sub.end());
    const dir = tempDir();
    const config = parseConfigText(
      `agent: { id: cam-outage }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/cam, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:0" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - id: line-cam
    source: { type: rtsp, url: "${camera.url}", transport: udp, noFrameTimeoutMs: 2000 }
    trigger: { type: mqtt }
    model: washer
    deadlineMs: 1500
`,
      'test',
      {},
    );
    const agent = new Agent(config, { log: quietLog });
    await agent.start();
    t.teardown(() => agent.stop());
    const cam = agent.cameras.get('line-cam');
    if (!cam) throw new Error('camera missing');
    await waitFor(() => cam.snapshot().connection?.state === 'good', 20_000, 'stream up');

    const results = [];
    results.push(await cam.trigger('P-1'));
    await camera.stop();
    await waitFor(() => cam.snapshot().connection?.state === 'down', 20_000, 'camera down');
    results.push(await cam.trigger('P-2'));
    results.push(await cam.trigger('P-3'));
    camera = await startRtspCamera({ width: 320, height: 240, fps: 10, ports: camera.ports });
    await waitFor(() => cam.snapshot().connection?.state === 'good', 30_000, 'camera back');
    results.push(await cam.trigger('P-4'));

    t.same(
      results.map((d) => d.partId),
      ['P-1', 'P-2', 'P-3', 'P-4'],
    );
    t.not(results[0]?.verdict, 'ERROR', 'judged while the camera is up');
    for (const d of results.slice(1, 3)) {
      t.equal(d.verdict, 'UNCERTAIN', `${d.partId}: no frame while the camera is down`);
      t.equal(d.degraded, true);
    }
    t.not(results[3]?.verdict, 'ERROR', 'judged again after recovery');
    t.same(
      agent.store.list({ limit: 10 }).map((d) => d.seq),
      [4, 3, 2, 1],
      'every trigger has exactly one stored decision',
    );
    const alerts = await waitFor(
      () => {
        const a = sub.messages.map((m) => m.json());
        return a.length >= 2 ? a : undefined;
      },
      10_000,
      'down and back alerts',
    );
    t.match(alerts[0], { code: 'CAMERA_DOWN', cameraId: 'line-cam', active: true, severity: 'critical' });
    t.match(alerts[1], { code: 'CAMERA_DOWN', cameraId: 'line-cam', active: false });
    const status = agent.status().cameras[0];
    t.ok((status?.reconnectsLastHour ?? 0) >= 1, 'reconnects counted');
  },
);
