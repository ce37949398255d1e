import t from 'tap';
import { cameraRig } from '../../helpers/camera-harness.js';
import { flush, ManualClock } from '../../helpers/manual-clock.js';

// Requested shots (trigger(partId): mqtt, http, plc) and snapshot(), on a manual clock.

t.test(
  'trigger(partId) hands over the part, the trigger time and the first frame captured after it',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, { trigger: { type: 'mqtt' } });
    await rig.camera.start();
    t.equal(rig.source.openCalls, 1, 'the stream is opened at start, before the first trigger');
    await clock.advance(5000);
    t.equal(rig.source.nextCalls, 0, 'a requested camera takes no frame of its own');
    rig.source.emit(); // before the trigger: not this part's frame
    await clock.advance(20);
    const triggeredAt = clock.now();
    const decision = rig.camera.trigger('P1');
    t.equal(rig.shots.count, 1, 'the handler has the shot at once, before its frame');
    t.equal(rig.shots.shot(0).partId, 'P1');
    t.equal(rig.shots.shot(0).triggeredAt, triggeredAt);
    await clock.advance(30);
    const name = rig.source.emit();
    const frame = await rig.shots.shot(0).frame;
    t.equal(frame.name, name);
    t.equal(frame.capturedAt, triggeredAt + 30);
    t.equal(rig.camera.snapshot().inflight, 1);
    await clock.advance(70);
    t.match(rig.camera.snapshot(), { lastFrameAgeMs: 70, fps: 0.1 });
    rig.shots.finish(0);
    t.equal(await decision, 'decision-0');
    await flush();
    t.equal(rig.camera.snapshot().inflight, 0);
    t.equal(clock.pendingTimers, 0, 'the frame timer is cleared once the frame came');
    t.equal(await rig.skipped(), 0);
  },
);

t.test('trigger() without a part id gives a shot without one', async (t) => {
  const clock = new ManualClock();
  const rig = cameraRig(t, clock, { trigger: { type: 'http' }, autoFinish: true });
  await rig.camera.start();
  const decision = rig.camera.trigger();
  t.notOk('partId' in rig.shots.shot(0), 'no partId key at all');
  t.equal(await decision, 'decision-0');
});

t.test(
  'requests are never skipped when busy: each is its own part with the first frame after it',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, { trigger: { type: 'mqtt' } });
    await rig.camera.start();
    const first = rig.camera.trigger('P1');
    const f1 = rig.source.emit();
    await clock.advance(10);
    const second = rig.camera.trigger('P2');
    const f2 = rig.source.emit();
    t.equal(rig.camera.snapshot().inflight, 2, 'both parts in flight');
    t.equal((await rig.shots.shot(0).frame).name, f1);
    t.equal((await rig.shots.shot(1).frame).name, f2);
    t.equal(await rig.skipped(), 0);
    rig.shots.finish(1);
    rig.shots.finish(0);
    t.same(await Promise.all([first, second]), ['decision-0', 'decision-1']);
  },
);

t.test('a requested camera does not look at the model: it stays running and still hands shots', async (t) => {
  const clock = new ManualClock();
  const rig = cameraRig(t, clock, { trigger: { type: 'mqtt' }, modelReady: false, autoFinish: true });
  await rig.camera.start();
  await clock.advance(3000);
  // the decision side records what a part gets without a model; the camera's state does not say it
  t.equal(rig.camera.snapshot().state, 'running');
  t.equal(await rig.camera.trigger('P1'), 'decision-0');
  t.equal(rig.shots.count, 1);
});

t.test(
  'no frame by deadline + 1 s: the frame fails, a capture error is counted, the part still ends',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, { trigger: { type: 'mqtt' }, deadlineMs: 500 });
    await rig.camera.start();
    const decision = rig.camera.trigger('P1');
    let frameError: unknown;
    rig.shots
      .shot(0)
      .frame.then(() => {})
      .catch((err: unknown) => {
        frameError = err;
      });
    await clock.advance(1499);
    t.equal(frameError, undefined, 'still waiting 1 ms before deadline + grace');
    await clock.advance(1);
    t.match(frameError, { message: 'no frame before the deadline' });
    t.equal(rig.source.waiting, 0, 'the wait at the source is cancelled');
    t.equal(await rig.captureErrors(), 1);
    t.equal(rig.camera.snapshot().lastError, 'no frame before the deadline');
    t.equal(rig.camera.snapshot().lastFrameAgeMs, null);
    rig.shots.finish(0);
    t.equal(await decision, 'decision-0', 'the handler, not the camera, decides what the part gets');
  },
);

t.test(
  'a shot whose handler fails: trigger() rejects with its error, which is kept and logged',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, { trigger: { type: 'mqtt' } });
    await rig.camera.start();
    const decision = rig.camera.trigger('P1');
    rig.source.emit();
    rig.shots.fail(0, new Error('store is full'));
    await t.rejects(decision, { message: 'store is full' });
    await flush();
    t.equal(rig.camera.snapshot().lastError, 'store is full');
    t.equal(rig.camera.snapshot().inflight, 0);
    t.equal(rig.errors('a shot failed to produce a stored decision').length, 1);
    t.equal(await rig.captureErrors(), 0, 'a failed shot is not a capture error');
  },
);

t.test('trigger() on a disabled camera is refused without taking a frame', async (t) => {
  const clock = new ManualClock();
  const rig = cameraRig(t, clock, { trigger: { type: 'mqtt' }, autoFinish: true });
  await rig.camera.start();
  rig.camera.setEnabled(false);
  await t.rejects(rig.camera.trigger('P1'), { message: 'camera cam1 is disabled' });
  t.equal(rig.shots.count, 0, 'the handler never sees it');
  t.equal(rig.source.nextCalls, 0);
  rig.camera.setEnabled(true);
  const decision = rig.camera.trigger('P2');
  rig.source.emit();
  t.equal(await decision, 'decision-0', 'accepted again once enabled');
  await rig.camera.stop();
  await t.rejects(rig.camera.trigger('P3'), { message: 'camera cam1 is stopped' });
});

t.test(
  'an interval camera also takes requests, and skips its ticks while a requested part is judged',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, { trigger: { type: 'interval', fps: 10 }, latencyMs: 0 });
    const t0 = clock.now();
    await rig.camera.start();
    const decision = rig.camera.trigger('P1');
    await clock.advance(300);
    t.equal(rig.shots.count, 1, 'only the requested part');
    t.equal(await rig.skipped(), 3, 'ticks at 100, 200, 300 ms found it in flight');
    rig.shots.finish(0);
    t.equal(await decision, 'decision-0');
    await flush();
    await clock.advance(100);
    t.equal(rig.shots.count, 2);
    t.equal(rig.shots.shot(1).partId, undefined);
    t.equal(rig.shots.shot(1).triggeredAt - t0, 400);
    t.notOk(rig.spun);
  },
);

t.test('a plc-triggered camera takes frames only when triggered: no loop of its own', async (t) => {
  const clock = new ManualClock();
  const rig = cameraRig(t, clock, { trigger: { type: 'plc' } });
  await rig.camera.start();
  await clock.advance(5000);
  t.equal(rig.source.nextCalls, 0, 'no frame taken before the PLC asks');
  const decision = rig.camera.trigger('P-1');
  rig.source.emit();
  await flush();
  t.equal(rig.shots.count, 1, 'one part per PLC trigger');
  t.equal(rig.shots.shot(0).partId, 'P-1');
  t.notOk(rig.spun, 'no free-running loop turning without awaiting');
  rig.shots.finish(0);
  t.equal(await decision, 'decision-0');
});

t.test('snapshot(): config, fps over the last 10 s, last frame age, parts in flight', async (t) => {
  const clock = new ManualClock();
  const rig = cameraRig(t, clock, { trigger: { type: 'interval', fps: 5 }, latencyMs: 0, autoFinish: true });
  t.same(rig.camera.snapshot(), {
    id: 'cam1',
    state: 'starting',
    enabled: true,
    trigger: 'interval',
    source: 'manual',
    model: 'm1',
    fps: 0,
    lastFrameAgeMs: null,
    inflight: 0,
    framesSkipped: 0,
    reconnects: 0,
    reconnectsLastHour: 0,
    stallsLastHour: 0,
    connection: null,
    lastError: null,
  });
  await rig.camera.start();
  await clock.advance(4000);
  rig.camera.setEnabled(false); // 20 frames, the last at 4 s
  await clock.advance(50);
  t.match(rig.camera.snapshot(), { state: 'disabled', fps: 2, lastFrameAgeMs: 50 });
  await clock.advance(9950);
  t.match(
    rig.camera.snapshot(),
    { fps: 0.1, lastFrameAgeMs: 10_000 },
    'the 4 s frame is 10 s old: still counted',
  );
  await clock.advance(1);
  t.match(rig.camera.snapshot(), { fps: 0, lastFrameAgeMs: 10_001 });
});

t.test(
  'with a watched stream source, frame age, reconnects and connection come from its watchdog',
  async (t) => {
    const clock = new ManualClock();
    const rig = cameraRig(t, clock, { trigger: { type: 'continuous' }, autoFinish: true });
    rig.source.snapshot = () => ({
      state: 'degraded',
      reason: 'low fps',
      lastFrameAgeMs: 1234,
      fps: 3.5,
      reconnects: 4,
      reconnectsLastHour: 2,
      stallsLastHour: 1,
      outagesLastHour: 0,
      frames: { received: 10, delivered: 9, dropped: 1 },
    });
    await rig.camera.start();
    rig.source.emit();
    await flush();
    await clock.advance(10);
    const s = rig.camera.snapshot();
    t.match(s, { lastFrameAgeMs: 1234, reconnects: 4, reconnectsLastHour: 2, stallsLastHour: 1, fps: 0.1 });
    t.same(s.connection, { state: 'degraded', reason: 'low fps', streamFps: 3.5 });
  },
);
