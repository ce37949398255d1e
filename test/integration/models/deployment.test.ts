import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { AlertInput } from '../../../agent/alerts.js';
import { ModelRunner } from '../../../agent/inference/index.js';
import { ModelDeployment, rulesJudge, ShadowStore } from '../../../agent/models/index.js';
import { type Clock, systemClock } from '../../../agent/service.js';
import { DecisionStore } from '../../../agent/store/index.js';
import { REPO, tempDir } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { expectGoldenLabel, sampleFrame, washerConfig, washerVersion } from '../../helpers/model-versions.js';

async function deployment(
  t: Test,
  opts: {
    versionsDir?: string;
    clock?: Clock;
    shadowStore?: ShadowStore;
    alerts?: AlertInput[];
    faults?: ConstructorParameters<typeof ModelDeployment>[1]['faults'];
  } = {},
) {
  const d = new ModelDeployment(washerConfig(), {
    log: quietLog,
    clock: opts.clock ?? systemClock,
    versionsDir: opts.versionsDir ?? tempDir('eva-versions-'),
    shadowStore: opts.shadowStore,
    alerts: { raise: (a) => opts.alerts?.push(a) },
    ...(opts.faults ? { faults: opts.faults } : {}),
  });
  t.teardown(() => d.stop());
  await d.start();
  t.equal(d.state, 'ready', d.snapshot().error ?? '');
  return d;
}

t.test('a new version installs into shadow; the active version keeps judging', async (t) => {
  const d = await deployment(t);
  const installed = await d.install(washerVersion('2'));
  t.match(installed, { model: 'washer', version: '2', provider: 'cpu', sha256: /^[0-9a-f]{64}$/ });
  const s = d.snapshot();
  t.equal(s.version, '1');
  t.match(s.shadow, { version: '2', state: 'ready', frames: 0 });
  t.same(s.installed, ['2']);
  t.equal((await d.infer(sampleFrame(1))).model.version, '1');
});

t.test('bad versions are refused with the reason and the active version untouched', async (t) => {
  const d = await deployment(t);
  const cases: [string, string, RegExp][] = [
    [
      'sha256 mismatch',
      washerVersion('2', (m) => {
        m.sha256 = '0'.repeat(64);
      }),
      /does not match its manifest: sha256/,
    ],
    [
      'failing golden images',
      washerVersion('3', expectGoldenLabel(0, 'dent')),
      /golden images failed: golden\/ok-1.jpg: expected dent/,
    ],
    [
      'not ONNX',
      (() => {
        const dir = washerVersion('4', (m) => {
          delete m.sha256;
        });
        writeFileSync(join(dir, 'model.onnx'), 'this is not a model');
        return dir;
      })(),
      /is not an ONNX model/,
    ],
    ['another model', washerVersion('5', (m) => (m.id = 'bolt')), /manifest id "bolt" is not this model's/],
    ['same version again', washerVersion('1'), /version 1 is already installed/],
  ];
  for (const [name, dir, reason] of cases) {
    await t.rejects(d.install(dir), { code: 'EVA_ERR_MODEL_REJECTED', message: reason }, name);
    const s = d.snapshot();
    t.equal(s.version, '1', `${name}: active version unchanged`);
    t.equal(s.state, 'ready', `${name}: active version still ready`);
    t.equal(s.shadow, null, `${name}: nothing in shadow`);
    t.same(s.installed, [], `${name}: nothing left installed`);
  }
  t.equal((await d.infer(sampleFrame(1))).model.version, '1');
});

t.test('the shadow sees the same frames, its results are stored and compared, never returned', async (t) => {
  const dir = tempDir('eva-db-');
  const store = DecisionStore.open({ path: join(dir, 'agent.db'), agentId: 'cell-1', log: quietLog });
  const shadowStore = new ShadowStore(store, quietLog);
  t.teardown(() => store.close());
  const d = await deployment(t, { shadowStore });
  await d.install(washerVersion('2'));
  for (let i = 1; i <= 4; i++) {
    const inference = await d.infer(sampleFrame(i), undefined, 'cam-1', (inf) => ({
      verdict: inf.result.task === 'classification' && (inf.result.scores.ok ?? 0) > 0.5 ? 'OK' : 'NG',
      top: null,
    }));
    t.equal(inference.model.version, '1', 'the line gets the active version result');
    // the shadow runs after the active result: wait for it before the next frame so none is skipped
    while ((d.snapshot().shadow?.frames ?? 0) + (d.snapshot().shadow?.errors ?? 0) < i) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const report = d.snapshot().shadow;
  t.match(report, { version: '2', frames: 4, agreed: 4, agreement: 1, errors: 0, skipped: 0 });
  t.ok((report?.shadowMsMean ?? 0) > 0, 'shadow latency reported');
  const rows = shadowStore.list('washer', '2');
  t.equal(rows.length, 4);
  t.match(rows[0], { camera: 'cam-1', activeVersion: '1', shadowVersion: '2', agree: true, error: null });
  t.equal(store.stats().lastSeq, 0, 'no decision was recorded for the shadow');
});

t.test('a busy shadow skips frames and counts them', async (t) => {
  const d = await deployment(t);
  await d.install(washerVersion('2'));
  // frames back to back: the shadow takes the first and is still busy (preprocessing, running) when the
  // next ones, already queued on the active version, come out
  await Promise.all([1, 2, 3, 4, 5, 6].map((i) => d.infer(sampleFrame(i))));
  const s = d.snapshot().shadow;
  t.ok((s?.skipped ?? 0) >= 1, `skipped ${s?.skipped}`);
});

t.test('promote switches between two frames; frames already running finish on the old version', async (t) => {
  const d = await deployment(t);
  await d.install(washerVersion('2'));
  const before = [1, 2, 3, 4].map((i) => d.infer(sampleFrame(i)));
  const promoted = await d.promote('2');
  const after = [5, 6, 7].map((i) => d.infer(sampleFrame(i)));
  t.match(promoted, { model: 'washer', version: '2', previous: '1', provider: 'cpu' });
  for (const r of await Promise.all(before)) t.equal(r.model.version, '1', 'started before: old version');
  for (const r of await Promise.all(after)) t.equal(r.model.version, '2', 'started after: new version');
  const s = d.snapshot();
  t.equal(s.version, '2');
  t.equal(s.previousVersion, '1');
  t.equal(s.shadow, null);
  await t.rejects(d.promote('2'), /already active/);
  await t.rejects(d.promote('9'), /version 9 is not installed/);
});

t.test('rollback returns to the previous version, and the active version survives a restart', async (t) => {
  const versionsDir = tempDir('eva-versions-');
  const first = await deployment(t, { versionsDir });
  await t.rejects(first.rollback(), /no previous version/);
  await first.install(washerVersion('2'));
  await first.promote('2');
  await first.stop();
  t.ok(existsSync(join(versionsDir, 'active.json')));

  const second = await deployment(t, { versionsDir });
  t.equal(second.activeVersion, '2', 'restart keeps the promoted version');
  t.equal(second.snapshot().previousVersion, '1');
  const back = await second.rollback();
  t.match(back, { version: '1', previous: '2' });
  t.equal((await second.infer(sampleFrame(1))).model.version, '1');
  await second.stop();

  const third = await deployment(t, { versionsDir });
  t.equal(third.activeVersion, '1', 'restart keeps the rolled-back version');
  t.equal((await third.rollback()).version, '2', 'and can go forward again');
});

t.test('an error jump after a promotion rolls back automatically, with an alert', async (t) => {
  const clock = new ManualClock();
  const alerts: AlertInput[] = [];
  const d = await deployment(t, {
    clock,
    alerts,
    // version 2 passes warm-up and golden images (7 runs), then fails every line frame
    faults: (path) => (path.includes('/2/') ? { failRuns: { provider: 'cpu', afterRuns: 7 } } : undefined),
  });
  for (let i = 1; i <= 5; i++) await d.infer(sampleFrame(i)); // baseline: no errors
  await d.install(washerVersion('2'));
  await d.promote('2');
  for (let i = 1; i <= 5; i++) {
    await t.rejects(d.infer(sampleFrame(i)), { code: 'EVA_ERR_INFERENCE_FAILED' });
    await clock.advance(1_000);
  }
  while (d.activeVersion !== '1') await new Promise((r) => setTimeout(r, 5));
  t.equal(d.activeVersion, '1', 'rolled back to version 1');
  t.match(alerts.at(-1), {
    code: 'MODEL_AUTO_ROLLBACK',
    severity: 'critical',
    active: true,
    message: /version 2 rolled back to 1: errors 100.0% over 5 frames since promotion vs 0.0% before/,
  });
  t.equal((await d.infer(sampleFrame(1))).model.version, '1');
});

t.test('errors after the watch window do not roll back', async (t) => {
  const clock = new ManualClock();
  const d = await deployment(t, {
    clock,
    faults: (path) => (path.includes('/2/') ? { failRuns: { provider: 'cpu', afterRuns: 7 } } : undefined),
  });
  await d.install(washerVersion('2'));
  await d.promote('2');
  await clock.advance(61_000); // window is 60 s in washerConfig()
  for (let i = 1; i <= 6; i++) await t.rejects(d.infer(sampleFrame(i)));
  t.equal(d.activeVersion, '2');
  t.equal(d.snapshot().watchingAfterPromotion, false);
});

/** Waits until the shadow has finished `n` frames (it runs after the active result, off the caller's path). */
async function shadowDone(d: ModelDeployment, n: number): Promise<void> {
  while ((d.snapshot().shadow?.frames ?? 0) + (d.snapshot().shadow?.errors ?? 0) < n) {
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('the shadow is judged with its own labels: a class it adds counts as NG', async (t) => {
  const dir = tempDir('eva-db-');
  const store = DecisionStore.open({ path: join(dir, 'agent.db'), agentId: 'cell-1', log: quietLog });
  t.teardown(() => store.close());
  const shadowStore = new ShadowStore(store, quietLog);
  const d = await deployment(t, { shadowStore });
  // the same network, its third class renamed: the active version calls it dent, the candidate crack
  await d.install(
    washerVersion('2', (m) => {
      m.labels = ['ok', 'scratch', 'crack'];
      for (const g of m.golden as { expect: { label: string } }[]) {
        if (g.expect.label === 'dent') g.expect.label = 'crack';
      }
    }),
  );
  // no ngClasses configured: every class but ok is NG, by the labels of the version that gave the result
  const judge = rulesJudge({ minScore: 0.5, uncertainBelow: 0.2 }, () => d.labels);
  const data = readFileSync(join(REPO, 'models/washer/golden/dent-1.jpg'));
  const inference = await d.infer(
    { kind: 'encoded', data, capturedAt: Date.now() },
    undefined,
    'cam-1',
    judge,
  );
  t.equal(judge(inference).verdict, 'NG', 'the active version calls the dent NG');
  await shadowDone(d, 1);
  t.match(shadowStore.list('washer', '2')[0], {
    activeVerdict: 'NG',
    activeTop: 'dent',
    shadowVerdict: 'NG',
    shadowTop: 'crack',
    agree: true,
  });
});

t.test('a result that came after the deadline is not compared with the shadow', async (t) => {
  const d = await deployment(t);
  await d.install(washerVersion('2'));
  // the deadline passes while the model runs: not aborted when the job goes to a worker, aborted after
  let reads = 0;
  const signal = {
    get aborted() {
      return reads++ > 0;
    },
    addEventListener() {},
    removeEventListener() {},
  } as unknown as AbortSignal;
  const late = await d.infer(sampleFrame(1), signal, 'cam-1');
  t.equal(late.model.version, '1', 'the late result still comes back');
  t.ok(reads > 1, 'the signal was read after the result');
  const inTime = await d.infer(sampleFrame(2), undefined, 'cam-1');
  t.equal(inTime.model.version, '1');
  await shadowDone(d, 1);
  t.match(d.snapshot().shadow, { frames: 1, skipped: 0 }, 'only the frame in time was shadowed');
});

t.test('stop waits for an install under way and refuses new work', async (t) => {
  const d = await deployment(t);
  const installing = d.install(washerVersion('2'));
  const queued = d.install(washerVersion('3')); // queued behind the first, reached after stop
  await new Promise((r) => setImmediate(r)); // the first has begun (loading its workers)
  await d.stop();
  await installing;
  await t.rejects(queued, { code: 'EVA_ERR_MODEL_DEPLOY', message: /stopping/ });
  t.match(d.snapshot().shadow, { version: '2', state: 'stopped' }, 'the installed shadow was stopped too');
  await t.rejects(d.promote('2'), { code: 'EVA_ERR_MODEL_DEPLOY', message: /stopping/ });
});

t.test('a promotion whose record cannot be written still retires the old version', async (t) => {
  const versionsDir = tempDir('eva-versions-');
  const stopped: (string | null)[] = [];
  const stop = ModelRunner.prototype.stop;
  ModelRunner.prototype.stop = function (this: ModelRunner) {
    stopped.push(this.version);
    return stop.call(this);
  };
  t.teardown(() => {
    ModelRunner.prototype.stop = stop;
  });
  const d = await deployment(t, { versionsDir });
  await d.install(washerVersion('2'));
  mkdirSync(join(versionsDir, 'active.json.tmp')); // the record cannot be written (as on a full disk)
  await t.rejects(d.promote('2'), { code: 'EISDIR' });
  t.equal(d.activeVersion, '2', 'the swap happened');
  t.same(stopped, ['1'], 'the old version was stopped');
});
