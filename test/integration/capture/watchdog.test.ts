import pino from 'pino';
import t, { type Test } from 'tap';
import { FfmpegSource } from '../../../agent/capture/ffmpeg-source.js';
import type { ConnectionState } from '../../../agent/capture/frame.js';
import { MjpegSource } from '../../../agent/capture/mjpeg-source.js';
import {
  connectionQuality,
  DEGRADED_OUTAGES_PER_HOUR,
  WatchedSource,
  type WatchedSourceOptions,
} from '../../../agent/capture/watchdog.js';
import { startMjpegServer, startRtspCamera } from '../../helpers/camera-servers.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { freePort, waitFor } from '../../helpers/net.js';
import { requireTool } from '../../helpers/tools.js';

/** A real pino logger whose lines the test can read. */
function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

function watched(t: Test, opts: Omit<WatchedSourceOptions, 'log' | 'onStateChange'>) {
  const { log, lines } = recordingLog();
  const states: [ConnectionState, string][] = [];
  const w = new WatchedSource({ log, onStateChange: (s, why) => states.push([s, why]), ...opts });
  t.teardown(() => w.close());
  const saw = (state: ConnectionState, after = 0) => states.slice(after).some(([s]) => s === state);
  return { w, lines, states, saw };
}

t.test('RTSP: frames flow; the camera dies -> down, restarts with backoff; it returns -> good', async (t) => {
  if (!requireTool(t, 'ffmpeg', 'the RTSP source decodes with it')) return;
  if (!requireTool(t, 'rtsp-server-perl', 'it serves the test RTSP stream')) return;
  let camera = await startRtspCamera({ width: 320, height: 240, fps: 10 });
  t.teardown(() => camera.stop());
  const url = camera.url;
  const rtsp = () =>
    new FfmpegSource({ input: { type: 'rtsp', url, transport: 'udp' }, log: pino({ level: 'silent' }) });
  // one frame read before the watchdog starts: on a loaded machine the server's first frame can take longer
  // than the 2 s no-frame timeout below, which would make the start itself look like an outage
  const warm = rtsp();
  await warm.next(AbortSignal.timeout(20_000));
  await warm.close();
  const { w, lines, states, saw } = watched(t, {
    kind: 'rtsp',
    create: rtsp,
    noFrameTimeoutMs: 2_000,
    backoffMinMs: 200,
    backoffMaxMs: 1_000,
  });
  const first = await w.next(AbortSignal.timeout(20_000));
  t.equal(first.kind, 'raw');
  t.same(states[0], ['good', 'first frame']);

  await camera.stop();
  await waitFor(() => saw('down'), 15_000, 'the camera reported down');
  await waitFor(() => w.snapshot().reconnects >= 3, 20_000, 'restarts while the camera is away');
  const restarts = lines.filter((l) => l.msg === 'camera source restarting');
  t.ok(restarts.length >= 3, `${restarts.length} restarts logged`);
  const delays = restarts.map((l) => l.delayMs as number);
  t.ok(
    delays.every((d) => d >= 160 && d <= 1_200),
    `backoff within bounds: ${delays.join(', ')}`,
  );
  t.ok((delays.at(-1) ?? 0) > (delays[0] ?? 0), 'and growing');
  t.ok(
    restarts.some((l) => (l.diagnostics as string[]).some((d) => /refused|error|failed/i.test(d))),
    "ffmpeg's last stderr lines are in the restart log",
  );
  const downs = states.filter(([s]) => s === 'down').length;
  t.equal(downs, 1, 'down is reported once per outage, not once per restart');

  const during = w.next(AbortSignal.timeout(30_000)); // a trigger while the camera is away
  const before = states.length;
  camera = await startRtspCamera({ width: 320, height: 240, fps: 10, ports: camera.ports });
  const backAt = Date.now();
  const frame = await during;
  t.ok(frame.capturedAt >= backAt, 'the waiting trigger got a frame from after the recovery');
  await waitFor(() => saw('good', before), 10_000, 'good again');
  t.match(states.at(-1), ['good', 'frames flowing again']);
  const s = w.snapshot();
  t.equal(s.state, 'good');
  t.equal(s.outagesLastHour, 1);
  t.ok(s.reconnectsLastHour >= 3);
  t.ok(s.lastFrameAgeMs !== null, 'frame age tracked');
  const fps = await waitFor(() => w.snapshot().fps, 10_000, 'fps measured on the new connection');
  t.ok(fps > 1 && fps < 20, `fps measured: ${fps} (the camera sends 10)`);
});

t.test('MJPEG stall (connection open, no parts) -> down, restarted; parts again -> good', async (t) => {
  const camera = await startMjpegServer({ fps: 20 });
  t.teardown(() => camera.stop());
  const { w, states, saw } = watched(t, {
    kind: 'mjpeg',
    create: () => new MjpegSource({ url: camera.url, log: pino({ level: 'silent' }) }),
    noFrameTimeoutMs: 600,
    backoffMinMs: 50,
    backoffMaxMs: 200,
  });
  await w.next(AbortSignal.timeout(10_000));
  camera.pause();
  await waitFor(() => saw('down'), 10_000, 'down after the stall');
  t.match(states.find(([s]) => s === 'down')?.[1], /no frame for 600 ms/);
  await waitFor(() => w.snapshot().stallsLastHour >= 2, 10_000, 'stalls counted');
  camera.resume();
  await waitFor(() => w.snapshot().state === 'good', 10_000, 'recovered');
  t.ok(w.snapshot().frames.delivered >= 1);
});

t.test('a flapping camera is degraded even while frames flow', async (t) => {
  const camera = await startMjpegServer({ fps: 20 });
  t.teardown(() => camera.stop());
  const { w, saw } = watched(t, {
    kind: 'mjpeg',
    create: () => new MjpegSource({ url: camera.url, log: pino({ level: 'silent' }) }),
    noFrameTimeoutMs: 2_000,
    backoffMinMs: 50,
    backoffMaxMs: 100,
  });
  for (let i = 0; i < DEGRADED_OUTAGES_PER_HOUR; i++) {
    await w.next(AbortSignal.timeout(10_000));
    const outages = w.snapshot().outagesLastHour;
    camera.dropClients();
    await waitFor(() => w.snapshot().outagesLastHour > outages, 10_000, `outage ${i + 1}`);
  }
  await w.next(AbortSignal.timeout(10_000));
  await waitFor(() => saw('degraded'), 10_000, 'degraded');
  t.match(w.snapshot().reason, /3 outages in the last hour/);
});

t.test('close during the backoff stops everything and rejects waiting callers', async (t) => {
  const port = await freePort();
  const { w } = watched(t, {
    kind: 'mjpeg',
    create: () => new MjpegSource({ url: `http://127.0.0.1:${port}/video`, log: pino({ level: 'silent' }) }),
    backoffMinMs: 60_000,
    backoffMaxMs: 60_000,
  });
  const pending = t.rejects(w.next(AbortSignal.timeout(30_000)), /source closed/);
  await waitFor(() => w.snapshot().reconnects === 1, 10_000, 'first failure');
  t.equal(w.snapshot().state, 'down');
  t.match(w.snapshot().reason, /ECONNREFUSED/);
  await w.close();
  await pending;
  t.equal(w.snapshot().reconnects, 1, 'no restart after close');
});

t.test('per-hour counts slide with the injected clock', async (t) => {
  const clock = new ManualClock();
  const port = await freePort();
  const { w } = watched(t, {
    kind: 'mjpeg',
    clock,
    create: () =>
      new MjpegSource({ url: `http://127.0.0.1:${port}/video`, log: pino({ level: 'silent' }), clock }),
    backoffMinMs: 1_000,
    backoffMaxMs: 1_000,
    random: () => 0.5,
  });
  w.open();
  // restarts at T, T+1 s, T+2 s, T+3 s (each backoff is exactly 1 s with this random)
  for (let n = 1; n <= 4; n++) {
    await waitFor(() => w.snapshot().reconnects === n, 10_000, `failure ${n}`);
    if (n < 4) await clock.advance(1_000); // the backoff passes: the next attempt starts
  }
  t.equal(w.snapshot().reconnectsLastHour, 4);
  t.equal(w.snapshot().outagesLastHour, 1, 'one outage: down once, never up in between');
  await w.close();
  await clock.advance(3_600_000 - 1_500); // now T+1 h+1.5 s
  t.equal(w.snapshot().reconnectsLastHour, 2, 'the two oldest fell out of the hour');
  t.equal(w.snapshot().reconnects, 4, 'the total keeps them');
});

t.test('quality thresholds', async (t) => {
  const base = { lastFrameAgeMs: 100, outagesLastHour: 0, fps: 10, expectedFps: 10, staleAfterMs: 5_000 };
  t.equal(connectionQuality(base).state, 'good');
  t.match(connectionQuality({ ...base, lastFrameAgeMs: 6_000 }), {
    state: 'degraded',
    reason: /no frame for 6000/,
  });
  t.match(connectionQuality({ ...base, outagesLastHour: 3 }), { state: 'degraded', reason: /3 outages/ });
  t.match(connectionQuality({ ...base, fps: 4 }), { state: 'degraded', reason: /4\.0 fps, expected 10/ });
  t.equal(
    connectionQuality({ ...base, fps: 4, expectedFps: undefined }).state,
    'good',
    'no expectation, no fps rule',
  );
});
