import t from 'tap';
import { cameraRig } from '../../helpers/camera-harness.js';
import { flush, ManualClock } from '../../helpers/manual-clock.js';

// Camera enable/disable and stop(), on a manual clock.

t.test(
  'setEnabled(false) stops an interval camera at once; setEnabled(true) resumes a period later',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, {
      trigger: { type: 'interval', fps: 10 },
      latencyMs: 0,
      autoFinish: true,
    });
    const t0 = clock.now();
    await rig.camera.start();
    await clock.advance(350);
    t.equal(rig.shots.count, 3);
    rig.camera.setEnabled(false);
    t.match(rig.camera.snapshot(), { state: 'disabled', enabled: false });
    await flush();
    t.equal(clock.pendingTimers, 0, 'the wait for the next tick is cancelled');
    await clock.advance(2000);
    t.equal(rig.shots.count, 3, 'no shot while disabled');
    t.equal(rig.source.nextCalls, 3, 'no frame taken while disabled');

    rig.camera.setEnabled(true);
    t.match(rig.camera.snapshot(), { state: 'running', enabled: true });
    await clock.advance(99);
    t.equal(rig.shots.count, 3);
    await clock.advance(1);
    t.equal(rig.shots.count, 4, 'first tick a period after enabling');
    t.equal(rig.shots.shot(3).triggeredAt - t0, 2450);
    await clock.advance(900);
    t.equal(rig.shots.count, 13);
    t.equal(await rig.skipped(), 0);
    t.same(rig.errors('camera loop ended unexpectedly'), [], 'disabling is not an error');
  },
);

t.test(
  'setEnabled(false) with a part in flight: the part is not cancelled, no frame is taken after it',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, { trigger: { type: 'interval', fps: 10 }, latencyMs: 0 });
    await rig.camera.start();
    await clock.advance(100);
    t.equal(rig.shots.count, 1);
    rig.camera.setEnabled(false);
    await clock.advance(500);
    t.equal(rig.camera.snapshot().inflight, 1, 'the part is still judged');
    t.equal(await rig.skipped(), 0, 'a disabled camera has no ticks to skip');
    rig.shots.finish(0);
    await flush();
    t.equal(rig.camera.snapshot().inflight, 0);
    await clock.advance(1000);
    t.equal(rig.shots.count, 1);
    t.equal(rig.source.nextCalls, 1);
  },
);

t.test(
  'a camera configured disabled: start() opens nothing and runs no loop until setEnabled(true)',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, {
      trigger: { type: 'interval', fps: 10 },
      latencyMs: 0,
      autoFinish: true,
      enabled: false,
    });
    await rig.camera.start();
    t.match(rig.camera.snapshot(), { state: 'disabled', enabled: false });
    t.equal(rig.source.openCalls, 0, 'the source is not opened');
    await clock.advance(1000);
    t.equal(rig.source.nextCalls, 0);
    t.equal(clock.pendingTimers, 0);
    rig.camera.setEnabled(true);
    t.equal(rig.camera.snapshot().state, 'running');
    await clock.advance(1000);
    t.equal(rig.shots.count, 10);
  },
);

t.test(
  'disable then enable while a continuous part is in flight: the camera goes on after that part',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, { trigger: { type: 'continuous' } });
    await rig.camera.start();
    rig.source.emit();
    await flush();
    t.equal(rig.shots.count, 1);
    rig.camera.setEnabled(false);
    rig.camera.setEnabled(true);
    await flush();
    // the new loop finds the old loop's part in flight; it must wait for it, not turn without awaiting
    t.notOk(rig.spun, 'the re-enabled loop does not spin while the old part is judged');
    rig.shots.finish(0);
    await flush();
    t.equal(rig.source.waiting, 1, 'one loop, and only one, asks for the next frame');
    rig.source.emit();
    await flush();
    t.equal(rig.shots.count, 2, 'the re-enabled camera judges frames again');
    t.same(rig.errors('camera loop ended unexpectedly'), []);
  },
);

t.test('setEnabled(true) before start(): start() runs one loop, and stop() ends it', async (t) => {
  const clock = new ManualClock();
  // an MQTT `camera/enable` can arrive after the link starts and before the cameras do
  const rig = cameraRig(t, clock, {
    trigger: { type: 'interval', fps: 10 },
    latencyMs: 0,
    autoFinish: true,
    enabled: false,
  });
  rig.camera.setEnabled(true);
  await rig.camera.start();
  await clock.advance(1000);
  t.equal(rig.shots.count, 10, '10 fps: one loop, not two ticking side by side');
  t.equal(await rig.skipped(), 0);
  await rig.camera.stop();
  const taken = rig.source.nextCalls;
  await clock.advance(2000);
  t.equal(rig.source.nextCalls, taken, 'no frame is taken after stop()');
  t.equal(rig.shots.count, 10, 'no shot after stop()');
  t.equal(clock.pendingTimers, 0, 'nothing left waiting on the clock');
});

t.test('stop() waits for the part in flight, takes no frame meanwhile, then closes the source', async (t) => {
  const clock = new ManualClock();
  const rig = cameraRig(t, clock, { trigger: { type: 'interval', fps: 10 }, latencyMs: 0 });
  await rig.camera.start();
  await clock.advance(100);
  t.equal(rig.shots.count, 1);
  let stopped = false;
  const stopping = rig.camera.stop().then(() => {
    stopped = true;
  });
  t.equal(rig.camera.snapshot().state, 'stopped');
  await clock.advance(1000);
  t.notOk(stopped, 'still waiting for part 0');
  t.equal(rig.source.closeCalls, 0, 'the source stays open for the part in flight');
  t.equal(rig.shots.count, 1, 'no new part');
  t.equal(await rig.skipped(), 0, 'a stopped loop has no ticks to skip');
  t.equal(rig.camera.snapshot().inflight, 1);
  rig.shots.finish(0);
  await stopping;
  t.equal(rig.source.closeCalls, 1);
  t.equal(rig.camera.snapshot().inflight, 0);
  t.equal(clock.pendingTimers, 0);
});

t.test(
  'stop() with a requested part still waiting for its frame returns when the part is done',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, { trigger: { type: 'mqtt' }, deadlineMs: 500 });
    await rig.camera.start();
    const requested = rig.camera.trigger('P1');
    t.equal(clock.pendingTimers, 1, 'the wait for the frame is bounded by a timer');
    let stopped = false;
    const stopping = rig.camera.stop().then(() => {
      stopped = true;
    });
    await clock.advance(400);
    t.notOk(stopped);
    rig.shots.finish(0); // the inspector stores its fallback by the deadline, frame or not
    t.equal(await requested, 'decision-0');
    await stopping;
    t.equal(rig.source.closeCalls, 1);
    await flush();
    t.equal(clock.pendingTimers, 0, 'the frame timer does not outlive the camera');
    t.equal(rig.source.waiting, 0);
    // closing the source fails the frame still awaited: counted as a capture error
    t.equal(await rig.captureErrors(), 1);
    t.equal(rig.camera.snapshot().lastError, 'source closed');
  },
);

t.test(
  'stop() while waiting for the model returns without moving the clock and leaves no timer',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, {
      trigger: { type: 'interval', fps: 10 },
      latencyMs: 0,
      modelReady: false,
    });
    await rig.camera.start();
    await clock.advance(1500);
    t.equal(rig.camera.snapshot().state, 'waiting-for-model');
    await rig.camera.stop();
    t.equal(rig.camera.snapshot().state, 'stopped');
    t.equal(clock.pendingTimers, 0);
    t.equal(rig.source.closeCalls, 1);
    t.same(rig.errors('camera loop ended unexpectedly'), []);
  },
);

t.test('stop() on a continuous camera waiting for a frame cancels the wait', async (t) => {
  const clock = new ManualClock();
  const rig = cameraRig(t, clock, { trigger: { type: 'continuous' } });
  await rig.camera.start();
  t.equal(rig.source.waiting, 1);
  await rig.camera.stop();
  t.equal(rig.source.waiting, 0, 'the loop no longer waits for a frame');
  t.equal(rig.source.closeCalls, 1);
  rig.source.emit();
  await clock.advance(2000);
  t.equal(rig.shots.count, 0);
  t.equal(rig.source.nextCalls, 1);
  t.equal(await rig.captureErrors(), 0, 'a cancelled wait is not a capture error');
});

t.test('a stopped camera ignores setEnabled and refuses trigger()', async (t) => {
  const clock = new ManualClock();
  const rig = cameraRig(t, clock, { trigger: { type: 'http' } });
  await rig.camera.start();
  await rig.camera.stop();
  rig.camera.setEnabled(false);
  t.match(rig.camera.snapshot(), { state: 'stopped', enabled: true });
  await t.rejects(rig.camera.trigger('P1'), { message: 'camera cam1 is stopped' });
  t.equal(rig.shots.count, 0);
  t.equal(rig.source.nextCalls, 0);
});
