import t from 'tap';
import { labelSwappedWasherVersion } from '../../helpers/model-edits.js';
import { washerConfig } from '../../helpers/model-versions.js';
import { rolloutHarness, SAMPLE_COUNT } from '../../helpers/rollout-harness.js';

// A candidate that is wrong, not failing: the washer with two classes swapped (ok <-> dent) by a graph
// edit, no golden images. It loads, warms up and answers every frame; only its verdicts are wrong.

const gated = {
  promotion: { ...washerConfig().promotion, minShadowFrames: 20, minAgreement: 0.9 },
};
const ngWatch = {
  autoRollback: { ...washerConfig().autoRollback, minFrames: 20, maxNgRateShift: 0.2 },
};

t.test('a label-swapped candidate is refused at promote by the agreement gate', async (t) => {
  const h = await rolloutHarness(t, { config: gated });
  await h.d.install(labelSwappedWasherVersion('2'));
  await h.shadowed(1, SAMPLE_COUNT);
  const shadow = h.d.snapshot().shadow;
  t.equal(shadow?.frames, SAMPLE_COUNT, 'every frame shadowed');
  t.ok((shadow?.agreement ?? 1) < 0.3, `agreement ${shadow?.agreement}: only the scratches agree`);
  await t.rejects(h.d.promote('2'), {
    code: 'EVA_ERR_MODEL_GATE',
    message:
      /version 2 not promoted: agreement gate failed \(agreement \d+\.\d% over 36 frames.*active version 1 unchanged/,
  });
  t.equal(h.d.activeVersion, '1', 'the active version keeps judging');
  t.equal(h.d.snapshot().shadow?.version, '2', 'the candidate stays in shadow');
  // with too few frames, the minimum is the gate that fails
  const fresh = await rolloutHarness(t, { config: gated });
  await fresh.d.install(labelSwappedWasherVersion('3'));
  await t.rejects(fresh.d.promote('3'), {
    message: /shadow-frames gate failed \(0 shadow frames \(at least 20\)\)/,
  });
});

t.test(
  'force-promoted, the label-swapped candidate is rolled back on the NG-rate shift and rejected',
  async (t) => {
    const h = await rolloutHarness(t, { config: { ...gated, ...ngWatch } });
    await h.d.install(labelSwappedWasherVersion('2'));
    await h.shadowed(1, SAMPLE_COUNT); // the active version's 36 frames are the watch's baseline
    const forced = await h.d.promote('2', { force: true, via: 'mqtt' });
    t.match(forced, { version: '2', previous: '1', forced: ['agreement'] }, 'the override is recorded');
    t.match(h.d.snapshot().history.at(-1), {
      action: 'promote',
      version: '2',
      via: 'mqtt',
      forced: ['agreement'],
    });
    for (let i = 1; i <= SAMPLE_COUNT && h.d.activeVersion === '2'; i++) await h.part(i);
    await h.until(() => h.d.activeVersion === '1', 'the automatic rollback');
    t.match(h.alerts.at(-1), {
      code: 'MODEL_AUTO_ROLLBACK',
      severity: 'critical',
      active: true,
      message:
        /version 2 rolled back to 1: NG rate \d+\.\d% over \d+ judged frames since promotion vs \d+\.\d% before/,
    });
    const s = h.d.snapshot();
    t.ok(s.rejected['2'], 'version 2 is marked rejected');
    t.not(s.previousVersion, '2', 'previous no longer points at the rejected version');
    t.match(
      s.problems,
      [{ code: 'MODEL_AUTO_ROLLBACK', severity: 'critical' }],
      'a problem until a person acts',
    );

    // model/rollback never loads the rejected version again, and promote needs force
    await t.rejects(h.d.rollback(), {
      code: 'EVA_ERR_MODEL_DEPLOY',
      message: /no previous version to roll back to/,
    });
    await t.rejects(h.d.promote('2'), {
      code: 'EVA_ERR_MODEL_DEPLOY',
      message: /version 2 was rejected .*force: true/,
    });
    t.equal(h.d.activeVersion, '1');
    t.match(h.alerts.at(-1), { code: 'MODEL_AUTO_ROLLBACK', active: true }, 'the alert stands');
  },
);

t.test('force-promoted, the label-swapped candidate is rolled back on plant outcomes', async (t) => {
  // the NG-rate check is off here: only ground truth can tell
  const h = await rolloutHarness(t, {
    config: {
      autoRollback: {
        ...washerConfig().autoRollback,
        minFrames: 1_000,
        minOutcomes: 10,
        maxAccuracyDrop: 0.1,
      },
    },
  });
  for (let i = 1; i <= SAMPLE_COUNT; i++) await h.part(i, { outcome: true }); // version 1 scored
  const v1 = h.d.snapshot().accuracy?.active['1'];
  t.ok((v1?.accuracy ?? 0) > 0.9, `version 1 accuracy ${v1?.accuracy} on ${v1?.outcomes} outcomes`);
  await h.d.install(labelSwappedWasherVersion('2'));
  await h.d.promote('2', { force: true });
  for (let i = 1; i <= SAMPLE_COUNT && h.d.activeVersion === '2'; i++) await h.part(i, { outcome: true });
  await h.until(() => h.d.activeVersion === '1', 'the automatic rollback');
  t.match(h.alerts.at(-1), {
    code: 'MODEL_AUTO_ROLLBACK',
    message:
      /version 2 rolled back to 1: accuracy on plant outcomes \d+\.\d% over 10 outcomes since promotion vs 9\d\.\d% before/,
  });
  const scored = h.d.snapshot().accuracy?.active['2'];
  // the rollback runs after the frame that decided it: a few more parts may have been judged by version 2
  t.ok((scored?.outcomes ?? 0) >= 10, `the swapped version was scored on its ${scored?.outcomes} decisions`);
  t.ok((scored?.ngPrecision ?? 1) < 0.5, `NG precision ${scored?.ngPrecision}`);
});
