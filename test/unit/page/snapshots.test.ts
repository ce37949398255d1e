import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { type AimableCamera, SNAPSHOT_MIN_INTERVAL_MS, Snapshots } from '../../../agent/page/index.js';
import { SAMPLES } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';

const jpeg = (name: string, capturedAt: number): Frame => ({
  kind: 'encoded',
  data: readFileSync(join(SAMPLES, name)),
  capturedAt,
});

/** A camera as the snapshot route sees it: its newest frame, and a grab where the source allows one. */
class Camera implements AimableCamera {
  latest: Frame | undefined;
  grabs = 0;
  constructor(private readonly grabber?: (signal: AbortSignal) => Promise<Frame>) {}
  latestFrame() {
    return this.latest;
  }
  grab(signal: AbortSignal) {
    if (!this.grabber) return undefined;
    this.grabs += 1;
    return this.grabber(signal);
  }
}

t.test('a fresh frame is shown as is; a stale one is replaced by a grab; at most 2.5 a second', async (t) => {
  const clock = new ManualClock();
  const cam = new Camera(async () => jpeg('0002.jpg', clock.now()));
  const snapshots = new Snapshots(new Map([['cam-1', cam]]), { clock, log: quietLog });
  cam.latest = jpeg('0001.jpg', clock.now());
  const a = await snapshots.get('cam-1');
  t.equal(a.capturedAt, clock.now(), 'the newest frame');
  t.ok(a.meter.sharpness > 0 && a.meter.exposure.mean > 0);
  t.equal(cam.grabs, 0, 'no grab for a fresh frame');
  t.equal(await snapshots.get('cam-1'), a, 'within the interval: the same snapshot');

  await clock.advance(5_000); // the newest frame is 5 s old now
  const b = await snapshots.get('cam-1');
  t.equal(cam.grabs, 1, 'a stale frame: grabbed');
  t.equal(b.capturedAt, clock.now());
  t.equal(await snapshots.get('cam-1'), b);
  await clock.advance(SNAPSHOT_MIN_INTERVAL_MS);
  await snapshots.get('cam-1');
  t.equal(cam.grabs, 2);
  await t.rejects(snapshots.get('cam-9'), { code: 'EVA_ERR_CAMERA_NOT_FOUND' });
});

t.test('a folder camera is never grabbed from: its last judged file, or 503 before one', async (t) => {
  const clock = new ManualClock();
  const folder = new Camera(); // grab() answers undefined, as Camera does for a folder source
  const snapshots = new Snapshots(new Map([['cam-1', folder]]), { clock, log: quietLog });
  await t.rejects(snapshots.get('cam-1'), { code: 'EVA_ERR_FRAME_UNAVAILABLE', message: /no frame yet/ });
  folder.latest = jpeg('0003.jpg', clock.now() - 60_000);
  t.equal(
    (await snapshots.get('cam-1')).capturedAt,
    clock.now() - 60_000,
    'an old file is still what it shows',
  );
});

t.test('a grab that fails or hangs falls back to the newest frame; without one it is a 503', async (t) => {
  const clock = new ManualClock();
  const hanging = new Camera(
    (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
  );
  const snapshots = new Snapshots(new Map([['cam-1', hanging]]), { clock, log: quietLog });
  const refused = t.rejects(snapshots.get('cam-1'), {
    code: 'EVA_ERR_FRAME_UNAVAILABLE',
    message: /no frame within 3000 ms/,
  });
  await clock.advance(3_000);
  await refused;
  hanging.latest = jpeg('0001.jpg', clock.now() - 10_000);
  const late = snapshots.get('cam-1');
  await clock.advance(3_000);
  t.equal((await late).capturedAt, clock.now() - 13_000, 'the newest frame, however old');

  const broken = new Camera(async () => ({
    kind: 'encoded',
    data: Buffer.from('garbage'),
    capturedAt: clock.now(),
  }));
  const s2 = new Snapshots(new Map([['cam-1', broken]]), { clock, log: quietLog });
  await t.rejects(s2.get('cam-1'), { code: 'EVA_ERR_FRAME_UNAVAILABLE', message: /could not be shown/ });
});
