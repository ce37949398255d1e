import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { AlertInput } from '../../../agent/alerts.js';
import type { ModelConfig } from '../../../agent/config/index.js';
import { ModelDeployment } from '../../../agent/models/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { sampleFrame, washerConfig, washerVersion } from '../../helpers/model-versions.js';

const DAY = 86_400_000;

/** Version 2 passes warm-up and golden images (7 runs), then fails every line frame. */
const failingV2 = (path: string) =>
  path.includes('/2/') ? { failRuns: { provider: 'cpu' as const, afterRuns: 7 } } : undefined;

async function deployment(
  t: Test,
  opts: {
    versionsDir: string;
    clock: ManualClock;
    alerts?: AlertInput[];
    config?: Partial<ModelConfig>;
    faults?: typeof failingV2;
  },
) {
  const d = new ModelDeployment(washerConfig(opts.config), {
    log: quietLog,
    clock: opts.clock,
    versionsDir: opts.versionsDir,
    alerts: { raise: (a) => opts.alerts?.push(a) },
    ...(opts.faults ? { faults: opts.faults } : {}),
  });
  t.teardown(() => d.stop());
  await d.start();
  return d;
}

async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 30_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('a restart inside the watch window keeps the watch and its promotion time', async (t) => {
  const versionsDir = tempDir('eva-versions-');
  const clock = new ManualClock();
  const first = await deployment(t, { versionsDir, clock, faults: failingV2 });
  for (let i = 1; i <= 5; i++) await first.infer(sampleFrame(i)); // baseline: no errors
  await first.install(washerVersion('2'));
  await first.promote('2');
  const promotedAt = clock.now();
  await first.stop();
  const record = JSON.parse(readFileSync(join(versionsDir, 'active.json'), 'utf8'));
  t.match(record, { active: '2', previous: '1', promotedAt, watch: { version: '2', since: promotedAt } });

  await clock.advance(30_000); // half the 60 s window later, the agent is back
  const alerts: AlertInput[] = [];
  const second = await deployment(t, { versionsDir, clock, alerts, faults: failingV2 });
  t.equal(second.activeVersion, '2');
  t.equal(second.snapshot().watchingAfterPromotion, true, 'the watch resumed');
  t.equal(second.snapshot().promotedAt, promotedAt, 'the promotion time survived');
  for (let i = 1; i <= 5; i++) await t.rejects(second.infer(sampleFrame(i)));
  await until(() => second.activeVersion === '1');
  t.match(alerts.at(-1), {
    code: 'MODEL_AUTO_ROLLBACK',
    active: true,
    message: /version 2 rolled back to 1: errors 100.0% over 5 frames since promotion vs 0.0% before/,
  });
});

t.test('a restart after the watch window: the version is known good, no watch', async (t) => {
  const versionsDir = tempDir('eva-versions-');
  const clock = new ManualClock();
  const first = await deployment(t, { versionsDir, clock });
  await first.install(washerVersion('2'));
  await first.promote('2');
  await first.stop();
  await clock.advance(61_000);
  const second = await deployment(t, { versionsDir, clock });
  t.equal(second.snapshot().watchingAfterPromotion, false);
  t.same(second.snapshot().knownGood, ['1', '2']);
});

t.test(
  'a recorded version that does not load at start: alert, problem, and the change recorded',
  async (t) => {
    const versionsDir = tempDir('eva-versions-');
    const clock = new ManualClock();
    const first = await deployment(t, { versionsDir, clock });
    await first.install(washerVersion('2'));
    await first.promote('2');
    await first.stop();
    writeFileSync(join(versionsDir, '2', 'model.onnx'), 'disk corruption');

    const alerts: AlertInput[] = [];
    const second = await deployment(t, { versionsDir, clock, alerts });
    t.equal(second.activeVersion, '1', 'the configured version runs');
    t.match(alerts, [
      {
        code: 'MODEL_START_FALLBACK',
        severity: 'warning',
        active: true,
        modelId: 'washer',
        message: /recorded active version 2 does not load \(.*\); running the configured version 1/,
      },
    ]);
    const s = second.snapshot();
    t.match(s.problems, [{ code: 'MODEL_START_FALLBACK', message: /version 2 did not load at start/ }]);
    t.ok(s.rejected['2'], 'the version that did not load is rejected');
    const record = JSON.parse(readFileSync(join(versionsDir, 'active.json'), 'utf8'));
    t.match(record, {
      active: '1',
      history: [{}, {}, { action: 'start-fallback', version: '1', from: '2' }],
    });
    await second.stop();

    const third = await deployment(t, { versionsDir, clock });
    t.equal(third.activeVersion, '1', 'the next start does not try version 2 again');
  },
);

t.test(
  'model/delete: other installed versions go; the active, shadow, configured and kept ones stay',
  async (t) => {
    const versionsDir = tempDir('eva-versions-');
    const clock = new ManualClock();
    const d = await deployment(t, { versionsDir, clock, config: { keepPreviousDays: 14 } });
    await d.install(washerVersion('2'));
    await d.promote('2');
    await d.install(washerVersion('3'));
    await d.promote('3', { via: 'http' }); // 2 is now the kept fallback
    await d.install(washerVersion('4')); // 4 in shadow
    t.same(d.snapshot().installed, ['2', '3', '4']);
    t.equal(
      d.snapshot().previousKeptUntil,
      clock.now() + 14 * DAY,
      'status says until when the fallback is kept',
    );
    await t.rejects(d.delete('3'), { message: /version 3 not deleted: it is the active version/ });
    await t.rejects(d.delete('4'), { message: /it runs in shadow/ });
    await t.rejects(d.delete('1'), { message: /it is agent.yaml's model file/ });
    await t.rejects(d.delete('9'), { message: /it is not installed \(installed: 2, 3, 4\)/ });
    await t.rejects(d.delete('2'), { message: /fallback kept until .*force: true deletes it now/ });
    await clock.advance(15 * DAY);
    t.match(await d.delete('2', { via: 'mqtt' }), { version: '2', deleted: true, installed: ['3', '4'] });
    t.match(d.snapshot().history.at(-1), { action: 'delete', version: '2', via: 'mqtt' });
    t.same(d.snapshot().installed, ['3', '4']);
  },
);

t.test('requireSha256 and requireGolden refuse installs that lack them', async (t) => {
  const d = await deployment(t, {
    versionsDir: tempDir('eva-versions-'),
    clock: new ManualClock(),
    config: { requireSha256: true, requireGolden: true },
  });
  const noSha = washerVersion('2', (m) => {
    delete m.sha256;
  });
  await t.rejects(d.install(noSha), {
    code: 'EVA_ERR_MODEL_REJECTED',
    message: /gives no sha256 of model.onnx \(models\[\].requireSha256\); active version 1 unchanged/,
  });
  const noGolden = washerVersion('3', (m) => {
    m.golden = [];
  });
  await t.rejects(d.install(noGolden), { message: /names no golden images \(models\[\].requireGolden\)/ });
  rmSync(join(noGolden, 'model.onnx'));
  await t.rejects(d.install(noGolden), {
    message: /no model.onnx in the upload .*; active version 1 unchanged/,
  });
  t.match(await d.install(washerVersion('4')), { version: '4' });
});
