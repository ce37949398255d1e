import t from 'tap';
import { ModelDeployment } from '../../../agent/models/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { sampleFrame, slowWasherVersion, washerConfig, washerVersion } from '../../helpers/model-versions.js';
import { rolloutHarness } from '../../helpers/rollout-harness.js';

/** Version 2 passes warm-up and golden images (7 runs), then fails every frame. */
const failingV2 = (path: string) =>
  path.includes('/2/') ? { failRuns: { provider: 'cpu' as const, afterRuns: 7 } } : undefined;

t.test("shadow agreement counts the shadow's errors as disagreement", async (t) => {
  const d = new ModelDeployment(
    washerConfig({ promotion: { ...washerConfig().promotion, minAgreement: 0.9 } }),
    { log: quietLog, clock: new ManualClock(), versionsDir: tempDir('eva-versions-'), faults: failingV2 },
  );
  t.teardown(() => d.stop());
  await d.start();
  await d.install(washerVersion('2'));
  const judge = () => ({ verdict: 'OK', top: 'ok' });
  for (let i = 1; i <= 6; i++) {
    await d.infer(sampleFrame(i), undefined, 'cam-1', judge);
    while ((d.snapshot().shadow?.errors ?? 0) < i) await new Promise((r) => setTimeout(r, 5));
  }
  t.match(d.snapshot().shadow, { frames: 0, errors: 6, agreed: 0, agreement: 0 });
  await t.rejects(d.promote('2'), { code: 'EVA_ERR_MODEL_GATE', message: /agreement 0.0% over 6 frames/ });
});

t.test('a slow shadow is held to its CPU budget: frames beyond it are throttled, not queued', async (t) => {
  const h = await rolloutHarness(t, { config: { shadowBudget: 0.1 } });
  await h.d.install(slowWasherVersion('2'));
  await h.shadowed(1, 30);
  const s = h.d.snapshot().shadow;
  t.equal((s?.frames ?? 0) + (s?.errors ?? 0) + (s?.throttled ?? 0) + (s?.skipped ?? 0), 30);
  // the fixture takes 150-300 ms a frame; 2 s of burst credit runs out after a dozen of them, and 10 % of
  // the washer's few ms per frame buys next to nothing back
  t.ok((s?.throttled ?? 0) >= 10, `throttled ${s?.throttled}, shadowed ${s?.frames}`);
});

t.test('a canary judges its cameras for real; a second promote gives it the line', async (t) => {
  const h = await rolloutHarness(t);
  await h.d.install(washerVersion('2'));
  const started = await h.d.promote('2', { canary: { cameras: ['cam-2'] }, via: 'http' });
  t.match(started, { version: '2', active: '1', canary: { cameras: ['cam-2'] } });
  t.match(h.d.snapshot().canary, { version: '2', scope: { cameras: ['cam-2'] }, state: 'ready' });
  t.equal((await h.part(1, { cameraId: 'cam-1' })).model?.version, '1', 'other cameras: the active version');
  t.equal((await h.part(2, { cameraId: 'cam-2' })).model?.version, '2', 'the canary camera: the candidate');
  t.equal(h.d.snapshot().watch?.version, '2', 'the canary is watched');
  const done = await h.d.promote('2');
  t.match(done, { version: '2', previous: '1' });
  t.equal(h.d.snapshot().canary, null);
  t.equal((await h.part(3, { cameraId: 'cam-1' })).model?.version, '2', 'now the whole line');
});

t.test('a canary share of parts: every n-th part goes to the candidate', async (t) => {
  const h = await rolloutHarness(t);
  await h.d.install(washerVersion('2'));
  await h.d.promote('2', { canary: { share: 0.25 } });
  const versions: string[] = [];
  for (let i = 1; i <= 8; i++) versions.push((await h.part(i)).model?.version ?? '?');
  t.same(versions, ['1', '1', '1', '2', '1', '1', '1', '2']);
});

t.test('a failing canary is ended automatically; the active version never stopped', async (t) => {
  const clock = new ManualClock();
  const alerts: { code: string; message: string; active: boolean }[] = [];
  const d = new ModelDeployment(washerConfig(), {
    log: quietLog,
    clock,
    versionsDir: tempDir('eva-versions-'),
    faults: failingV2,
    alerts: { raise: (a) => alerts.push(a) },
  });
  t.teardown(() => d.stop());
  await d.start();
  await d.install(washerVersion('2'));
  await d.promote('2', { canary: { cameras: ['cam-2'] } });
  for (let i = 1; i <= 5; i++) {
    t.equal((await d.infer(sampleFrame(i), undefined, 'cam-1')).model.version, '1');
    await t.rejects(d.infer(sampleFrame(i), undefined, 'cam-2'));
  }
  while (d.snapshot().canary) await new Promise((r) => setTimeout(r, 5));
  t.equal(d.activeVersion, '1');
  t.ok(d.snapshot().rejected['2'], 'the canary version is rejected');
  t.match(alerts.at(-1), {
    code: 'MODEL_AUTO_ROLLBACK',
    active: true,
    message: /version 2 rolled back to 1: errors 100.0% over 5 frames since promotion vs 0.0% before/,
  });
  t.equal((await d.infer(sampleFrame(1), undefined, 'cam-2')).model.version, '1');
});
