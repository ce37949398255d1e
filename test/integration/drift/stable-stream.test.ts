import t, { type Test } from 'tap';
import {
  BASE_MIX,
  DriftHarness,
  type Judged,
  judgedPool,
  StreamDrawer,
  washerRunner,
} from '../../helpers/drift-streams.js';

/**
 * Acceptance of issue 11: a stable line raises no alert over at least 200 windows. The demo washer frames
 * with a small jitter (exposure, offset, JPEG quality), judged once by the real washer model, drawn into
 * 250 windows of 200 decisions against a live baseline of 4000; 2 frames a second, falseAlarmEvery 30 days.
 * The drifting streams are in streams.test.ts.
 */
const WINDOW = 200;
const BASELINE = 4000;

const runner = await washerRunner();
const pools = { stable: await judgedPool(runner, {}, 4, 1) };
await runner.stop();

async function line(t: Test, seed: number, config: Record<string, unknown> = {}) {
  const h = new DriftHarness({ window: WINDOW, ...config });
  await h.start();
  t.teardown(() => h.stop());
  const d = new StreamDrawer(seed);
  await h.baselineFrom(BASELINE, () => d.draw(pools.stable, BASE_MIX));
  return { h, d };
}

async function windows(h: DriftHarness, n: number, next: (w: number) => Judged): Promise<void> {
  const start = h.reports.length;
  for (let w = 0; w < n; w++) for (let i = 0; i < WINDOW; i++) await h.feed(next(start + w));
  await h.clock.advance(1); // the last window is judged on the next turn
}

t.test('a stable line raises no alert over 250 windows', async (t) => {
  const { h, d } = await line(t, 11);
  await windows(h, 250, () => d.draw(pools.stable, BASE_MIX));
  t.equal(h.reports.length, 250, '250 windows judged');
  t.same(
    h.raised.filter((a) => a.active),
    [],
    'no alert went active',
  );
  t.ok(
    h.reports.every((r) => r.status === 'ok' || r.status === 'warning'),
    'every window ok or a single-window warning',
  );
  const warnings = h.reports.filter((r) => r.status === 'warning').length;
  t.ok(warnings <= 5, `${warnings} single-window warnings in 250`);
  t.ok(
    h.reports.every((r) => r.baseline !== null && r.calibration),
    'judged against the baseline, budget stated',
  );
});
