import t from 'tap';
import type { CameraStatus } from '../../../agent/capture/index.js';
import { EventBus } from '../../../agent/events.js';
import {
  type CameraActivity,
  type ProblemInputs,
  Problems,
  STARTUP_GRACE_MS,
  type SystemSnapshot,
} from '../../../agent/health/index.js';
import type { DeploymentStatus } from '../../../agent/models/index.js';
import { quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';

function camera(over: Partial<CameraStatus> = {}): CameraStatus {
  return {
    id: 'cam-1',
    state: 'running',
    enabled: true,
    trigger: 'interval',
    source: 'rtsp',
    model: 'washer',
    fps: 2,
    lastFrameAgeMs: 400,
    inflight: 0,
    framesSkipped: 0,
    reconnects: 0,
    reconnectsLastHour: 0,
    stallsLastHour: 0,
    connection: { state: 'good', reason: 'frames flowing', streamFps: 2 },
    lastError: null,
    ...over,
  };
}

function system(over: Partial<SystemSnapshot> = {}): SystemSnapshot {
  return {
    cpu: { loadPercent: 20, cores: 4 },
    memory: { totalBytes: 8e9, usedBytes: 2e9, processRssBytes: 2e8 },
    temperature: { cpuC: 55 },
    disk: { path: '/data/agent.db', totalBytes: 100e9, freeBytes: 50e9 },
    gpu: [],
    sampledAt: 1,
    ...over,
  };
}

function model(over: Partial<DeploymentStatus> = {}): DeploymentStatus {
  return {
    id: 'washer',
    state: 'ready',
    version: '1',
    sha256: 'ab',
    provider: 'cpu',
    providerAttempts: [],
    labels: ['ok'],
    error: null,
    file: { path: null, changed: null, checkedAt: null },
    previousVersion: null,
    previousKeptUntil: null,
    promotedAt: null,
    installed: [],
    shadow: null,
    canary: null,
    watchingAfterPromotion: false,
    watch: null,
    rejected: {},
    knownGood: [],
    accuracy: null,
    history: [],
    problems: [],
    ...over,
  };
}

function activity(over: Partial<CameraActivity> = {}): CameraActivity {
  return {
    counts: { OK: 100, NG: 0, UNCERTAIN: 0, ERROR: 0 },
    ngRate: 0,
    lastVerdict: null,
    latencyMs: { p50: 30, p99: 240, samples: 100 },
    deadlineMs: 250,
    recent: { windowS: 300, decided: 100, missed: 0 },
    totals: { OK: 100, NG: 0, UNCERTAIN: 0, ERROR: 0 },
    ...over,
  };
}

function healthy(over: Partial<ProblemInputs> = {}): ProblemInputs {
  return {
    cameras: [camera()],
    models: [model()],
    link: { connected: true, url: 'mqtt://broker:1883', lastError: null, connectedSince: 1, reconnects: 0 },
    backlog: 0,
    store: [],
    disk: { full: false, usedBytes: 10e6, budgetBytes: 2048 * 1024 * 1024 },
    system: system(),
    alerts: [],
    ...over,
  };
}

async function started() {
  const clock = new ManualClock();
  const events = new EventBus(quietLog);
  const problems = new Problems({ clock, events });
  await problems.start();
  return { clock, events, problems };
}

const codes = (list: { code: string }[]) => list.map((p) => p.code);

t.test('a healthy agent has no problems', async (t) => {
  const { problems } = await started();
  t.same(problems.list(healthy()), []);
});

t.test('each condition a technician must see, with its severity', async (t) => {
  const { clock, problems } = await started();
  await clock.advance(STARTUP_GRACE_MS);
  const link = {
    connected: false,
    url: 'mqtt://broker:1883',
    lastError: 'ECONNREFUSED',
    connectedSince: null,
    reconnects: 3,
  };
  const list = problems.list(
    healthy({
      cameras: [
        camera({ connection: { state: 'down', reason: 'no frame for 20 s', streamFps: 0 } }),
        {
          ...camera({ id: 'cam-2' }),
          activity: activity({ recent: { windowS: 300, decided: 40, missed: 5 } }),
        },
        camera({
          id: 'cam-3',
          source: 'http',
          connection: null,
          lastFrameAgeMs: 45_000,
          lastError: 'HTTP 500',
        }),
      ],
      models: [model({ state: 'failed', error: 'sha256 mismatch' })],
      link,
      backlog: 5_000,
      disk: { full: false, usedBytes: 95, budgetBytes: 100 },
      system: system({ temperature: { cpuC: 97 } }),
      alerts: [
        {
          id: 'a',
          ts: 1,
          severity: 'warning',
          code: 'DRIFT_INPUT',
          cameraId: 'cam-1',
          message: 'brightness drifted',
          active: true,
        },
        {
          id: 'b',
          ts: 1,
          severity: 'critical',
          code: 'CAMERA_DOWN',
          cameraId: 'cam-1',
          message: 'camera cam-1 is down (alert)',
          active: true,
        },
      ],
    }),
  );
  t.same(
    codes(list),
    [
      'CAMERA_DOWN',
      'CAMERA_NO_FRAMES',
      'HIGH_TEMPERATURE',
      'MODEL_FAILED',
      'BACKLOG',
      'DEADLINE_MISSES',
      'DISK_NEARLY_FULL',
      'DRIFT_INPUT',
      'MQTT_DOWN',
    ],
    'critical first; an alert already listed as a condition (CAMERA_DOWN) is not listed twice',
  );
  const by = (code: string) => list.find((p) => p.code === code);
  t.match(by('CAMERA_DOWN'), { severity: 'critical', cameraId: 'cam-1', message: /no frame for 20 s/ });
  t.match(by('DEADLINE_MISSES'), {
    cameraId: 'cam-2',
    message: /5 of 40 parts .* within 250 ms \(latency p99 240 ms\)/,
  });
  t.match(by('CAMERA_NO_FRAMES'), { cameraId: 'cam-3', message: /for 45 s: HTTP 500/ });
  t.match(by('MQTT_DOWN'), { severity: 'warning', message: /ECONNREFUSED; decisions are buffered/ });
  t.match(by('HIGH_TEMPERATURE'), { severity: 'critical', message: /97 °C/ });
  t.match(by('DISK_NEARLY_FULL'), { severity: 'warning' });
  t.match(by('DRIFT_INPUT'), { severity: 'warning', cameraId: 'cam-1', message: 'brightness drifted' });
  t.ok(
    list.every((p) => p.since === clock.now()),
    'each says since when it is seen',
  );
});

t.test('disk: the budget nearly used, the file system nearly full, or full', async (t) => {
  const { problems } = await started();
  t.match(problems.list(healthy({ disk: { full: false, usedBytes: 89, budgetBytes: 100 } })), []);
  t.match(problems.list(healthy({ disk: { full: false, usedBytes: 90, budgetBytes: 100 } })), [
    { code: 'DISK_NEARLY_FULL', message: /budget/ },
  ]);
  t.match(
    problems.list(
      healthy({ system: system({ disk: { path: '/data', totalBytes: 100e9, freeBytes: 4e9 } }) }),
    ),
    [{ code: 'DISK_NEARLY_FULL', message: /file system of \/data has/ }],
  );
  t.match(problems.list(healthy({ disk: { full: true, usedBytes: 100, budgetBytes: 100 } })), [
    { code: 'DISK_FULL', severity: 'critical' },
  ]);
  t.match(problems.list(healthy({ system: system({ temperature: { cpuC: 86 } }) })), [
    { code: 'HIGH_TEMPERATURE', severity: 'warning' },
  ]);
});

t.test(
  'quiet for the first two minutes about what settles while starting, but not about what broke',
  async (t) => {
    const { clock, events, problems } = await started();
    const starting = healthy({
      cameras: [
        camera({ state: 'waiting-for-model' }),
        camera({
          id: 'cam-2',
          lastFrameAgeMs: null,
          connection: { state: 'down', reason: 'connection refused', streamFps: 0 },
        }),
        {
          ...camera({ id: 'cam-3' }),
          activity: activity({ recent: { windowS: 300, decided: 10, missed: 10 } }),
        },
      ],
      link: { connected: false, url: 'mqtt://b', lastError: null, connectedSince: null, reconnects: 0 },
      backlog: 20_000,
    });
    t.same(
      codes(problems.list(starting)),
      [],
      'a broker being connected to, a model loading, a backlog draining: quiet',
    );
    t.same(
      codes(problems.list(healthy({ models: [model({ state: 'failed', error: 'bad file' })] }))),
      ['MODEL_FAILED'],
      'a model that failed to load is shown at once',
    );
    // the broker was reached, then lost: news at once, grace or not
    events.emit('LinkStateChanged', { connected: true });
    t.same(codes(problems.list(starting)), ['MQTT_DOWN']);
    // a camera that had delivered frames and then went down: at once
    t.same(
      codes(
        problems.list(
          healthy({
            cameras: [camera({ connection: { state: 'down', reason: 'stream ended', streamFps: 0 } })],
          }),
        ),
      ),
      ['CAMERA_DOWN'],
    );
    await clock.advance(STARTUP_GRACE_MS);
    t.same(
      codes(problems.list(starting)),
      ['CAMERA_DOWN', 'CAMERA_WAITING', 'BACKLOG', 'DEADLINE_MISSES', 'MQTT_DOWN'],
      'after two minutes everything is listed',
    );
  },
);

t.test('a problem held back while starting says since when it was first seen, grace included', async (t) => {
  const { clock, problems } = await started();
  const draining = healthy({ backlog: 20_000 });
  t.same(problems.list(draining), []);
  await clock.advance(STARTUP_GRACE_MS);
  t.match(problems.list(draining), [{ code: 'BACKLOG', since: clock.now() - STARTUP_GRACE_MS }]);
});

t.test('a problem that clears and comes back counts its time again', async (t) => {
  const { clock, problems } = await started();
  const down = healthy({ models: [model({ state: 'failed' })] });
  t.equal(problems.list(down)[0]?.since, clock.now());
  await clock.advance(5_000);
  t.same(problems.list(healthy()), []);
  await clock.advance(5_000);
  t.equal(problems.list(down)[0]?.since, clock.now());
  await problems.stop();
});
