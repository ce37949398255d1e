import t from 'tap';
import { HealthWatch, type RollbackPolicy } from '../../../agent/models/index.js';

const policy: RollbackPolicy = {
  enabled: true,
  windowMs: 10_000,
  minFrames: 4,
  maxErrorRateIncrease: 0.2,
  maxMissRateIncrease: 0.25,
};

t.test('a deadline-miss jump after promotion asks for a rollback once', async (t) => {
  const w = new HealthWatch(policy);
  for (let i = 0; i < 10; i++) w.record(i === 0 ? 'miss' : 'ok', 0); // baseline: 10% misses
  w.promoted(1_000);
  t.equal(w.record('miss', 1_001), undefined, 'fewer than minFrames: no judgement yet');
  t.equal(w.record('ok', 1_002), undefined);
  t.equal(w.record('miss', 1_003), undefined);
  t.match(w.record('ok', 1_004), /deadline misses 50.0% over 4 frames since promotion vs 10.0% before/);
  t.equal(w.record('miss', 1_005), undefined, 'only once');
  t.equal(w.active, false);
});

t.test('rates no worse than before, or after the window, or disabled: no rollback', async (t) => {
  const steady = new HealthWatch(policy);
  for (let i = 0; i < 10; i++) steady.record(i % 2 ? 'error' : 'ok', 0); // 50% errors before
  steady.promoted(0);
  for (let i = 0; i < 8; i++) t.equal(steady.record(i % 2 ? 'error' : 'ok', 1), undefined);

  const late = new HealthWatch(policy);
  late.promoted(0);
  for (let i = 0; i < 8; i++) t.equal(late.record('error', 10_001), undefined);

  const off = new HealthWatch({ ...policy, enabled: false });
  off.promoted(0);
  for (let i = 0; i < 8; i++) t.equal(off.record('error', 1), undefined);
});

t.test('an error jump asks for a rollback', async (t) => {
  const w = new HealthWatch(policy);
  w.promoted(0);
  w.record('ok', 1);
  w.record('error', 2);
  w.record('ok', 3);
  t.match(w.record('error', 4), /errors 50.0% over 4 frames since promotion vs 0.0% before/);
});
