import t from 'tap';
import { Agent } from '../../agent/app.js';
import { parseConfigText } from '../../agent/config/index.js';
import { tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { collect, startAedes } from '../helpers/brokers.js';
import { startRtspCamera } from '../helpers/camera-servers.js';
import { quietLog } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';
import { recordFigures, scaled } from './chaos-lib.js';

// Scenario 4 (docs/reliability.md): an RTSP camera (ffmpeg source, the watchdog) that dies and one whose
// stream freezes (the publisher SIGSTOPped: the session stays up, no frame comes). Each time CAMERA_DOWN is
// raised and cleared, triggers during the fault get degraded fallback verdicts, and every trigger has
// exactly one stored decision.
const ROUNDS = scaled(1, 5);

t.test(
  `an RTSP camera dies and freezes ${ROUNDS} time(s) each: down, fallback, back, nothing lost`,
  async (t) => {
    if (!requireTool(t, 'ffmpeg', 'the RTSP source decodes with it')) return;
    if (!requireTool(t, 'rtsp-server-perl', 'it serves the test RTSP stream')) return;
    let camera = await startRtspCamera({ width: 320, height: 240, fps: 10 });
    t.teardown(() => camera.stop());
    const broker = await startAedes();
    t.teardown(() => broker.stop());
    const sub = await collect(broker.url, 't/chaoscam/alerts');
    t.teardown(() => sub.end());
    const dir = tempDir('eva-chaos-cam-');
    const config = parseConfigText(
      `agent: { id: chaos-cam }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/chaoscam, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:0" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - id: line-cam
    source: { type: rtsp, url: "${camera.url}", transport: udp, noFrameTimeoutMs: 2000 }
    trigger: { type: mqtt }
    model: washer
    deadlineMs: 1500
`,
      'chaos',
      {},
    );
    const agent = new Agent(config, { log: quietLog });
    await agent.start();
    t.teardown(() => agent.stop());
    const cam = agent.cameras.get('line-cam');
    if (!cam) throw new Error('camera missing');
    const state = () => cam.snapshot().connection?.state;
    await waitFor(() => state() === 'good', 30_000, 'stream up');

    const verdicts: { part: string; verdict: string; degraded: boolean; during: 'up' | 'fault' }[] = [];
    let n = 0;
    const shoot = async (during: 'up' | 'fault') => {
      const d = await cam.trigger(`P-${++n}`);
      verdicts.push({ part: d.partId ?? '', verdict: d.verdict, degraded: d.degraded, during });
    };
    const faults: string[] = [];
    let thawed = 0;
    let powerCycled = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      for (const fault of ['death', 'freeze'] as const) {
        await shoot('up');
        if (fault === 'death') await camera.stop();
        else camera.freeze();
        faults.push(fault);
        await waitFor(() => state() === 'down', 30_000, `round ${round}: ${fault} seen as down`);
        await shoot('fault');
        await shoot('fault');
        if (fault === 'death') {
          camera = await startRtspCamera({ width: 320, height: 240, fps: 10, ports: camera.ports });
        } else {
          camera.thaw();
          // a publisher thawed after the agent gave up on the session may not be read again (the relay
          // dropped its mount): then the camera is power-cycled, as a technician would; counted, not failed.
          // Either way the agent's next attempt may be up to a minute away: the watchdog's backoff grew while
          // the stream was frozen (BACKOFF_MAX_MS, agent/capture/watchdog.ts)
          const back = await waitFor(() => state() === 'good', 20_000, 'thawed stream back').catch(
            () => undefined,
          );
          if (back) thawed++;
          else {
            powerCycled++;
            await camera.stop();
            camera = await startRtspCamera({ width: 320, height: 240, fps: 10, ports: camera.ports });
          }
        }
        await waitFor(() => state() === 'good', 150_000, `round ${round}: back after ${fault}`);
        await shoot('up');
      }
    }
    const during = verdicts.filter((v) => v.during === 'fault');
    t.ok(
      during.every((v) => v.verdict === 'UNCERTAIN' && v.degraded),
      'every trigger during a fault got a degraded UNCERTAIN fallback verdict',
    );
    const up = verdicts.filter((v) => v.during === 'up');
    t.ok(
      up.filter((v) => v.verdict !== 'ERROR').length >= up.length - 1,
      'triggers while the stream is up are judged',
    );
    const stored = agent.store.list({ limit: 1000 }).map((d) => d.seq);
    t.same(
      stored.sort((a, b) => a - b),
      Array.from({ length: verdicts.length }, (_, i) => i + 1),
      'every trigger has exactly one stored decision',
    );
    const alerts = await waitFor(
      () => {
        const a = sub.messages.map((m) => m.json()).filter((x) => x.code === 'CAMERA_DOWN');
        return a.length >= 2 * faults.length ? a : undefined;
      },
      15_000,
      'a down and a back alert per fault',
    );
    t.same(
      alerts.map((a) => a.active),
      faults.flatMap(() => [true, false]),
      'CAMERA_DOWN raised and cleared once per fault',
    );
    recordFigures(t, '4-camera', {
      faults: { deaths: ROUNDS, freezes: ROUNDS },
      freezesRecoveredByThaw: thawed,
      freezesRecoveredByPowerCycle: powerCycled,
      triggers: verdicts.length,
      fallbackVerdicts: during.length,
      cameraDownAlerts: alerts.length,
      decisionsChecked: stored.length,
      lost: verdicts.length - stored.length,
    });
  },
);
