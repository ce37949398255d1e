import t from 'tap';
import { binOf, binsOf, interiorBinsFor, scoresOf } from '../../../agent/drift/bins.js';
import { budgetFor, calibrateStatistic, distributionThreshold } from '../../../agent/drift/calibration.js';
import { normalDraw, seededRandom } from '../../../agent/drift/math.js';

t.test(
  'bins: quantile edges, overflow bins, a value on an edge goes right, the maximum stays inside',
  async (t) => {
    const bins = binsOf(Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), 4);
    t.same(bins.edges, [1, 3, 5, 7, 9]);
    t.equal(bins.counts.length, 6, 'four interior bins and two overflow bins');
    t.same(bins.counts, [0, 2, 2, 2, 3, 0]);
    t.equal(binOf(bins.edges, 0.5), 0, 'below the minimum');
    t.equal(binOf(bins.edges, 3), 2, 'an edge belongs to the bin above it');
    t.equal(binOf(bins.edges, 9), 4, 'the maximum is in the last interior bin');
    t.equal(binOf(bins.edges, 9.1), 5, 'above the maximum');
    const constant = binsOf(Float64Array.from([0, 0, 0]), 4);
    t.same(constant.edges, [0]);
    t.same(constant.counts, [0, 3, 0], 'a constant statistic has one interior bin');
    t.equal(interiorBinsFor(36, 20), 3);
    t.equal(interiorBinsFor(4000, 200), 10);
  },
);

t.test(
  'scores: zero for the same distribution, growing with a shift, Wasserstein in standard deviations',
  async (t) => {
    const ref = [0, 10, 10, 10, 10, 0];
    const points = [-1, 0.5, 1.5, 2.5, 3.5, 5];
    const same = scoresOf(ref, 40, [0, 5, 5, 5, 5, 0], 20, points, 1);
    t.ok(same.psi < 0.02, `PSI only its pseudo-counts apart: ${same.psi}`);
    t.equal(same.ks, 0);
    t.equal(same.wasserstein, 0);
    const shifted = scoresOf(ref, 40, [0, 0, 5, 5, 5, 5], 20, points, 1);
    t.ok(shifted.psi > 0.5, `psi ${shifted.psi}`);
    t.equal(shifted.ks, 0.25);
    t.ok(
      Math.abs(shifted.wasserstein - (0.25 + 0.25 + 0.25 + 0.25 * 1.5)) < 1e-9,
      `moved mass ${shifted.wasserstein}`,
    );
    // a step between neighbouring points counts at most 3 standard deviations
    const far = scoresOf(ref, 40, [0, 0, 5, 5, 5, 5], 20, [-1, 0.5, 1.5, 2.5, 3.5, 50], 1);
    t.ok(Math.abs(far.wasserstein - (0.75 + 0.25 * 3)) < 1e-9, `capped ${far.wasserstein}`);
  },
);

/**
 * The guarantee of docs/drift.md: on a stable line (live windows drawn from the same process the baseline
 * was drawn from) each test breaches with probability at most about the level it was set for. Checked
 * over many baselines and windows, for a smooth statistic and for one with ties at zero and a long tail.
 */
t.test('calibrated thresholds hold their false-alarm level on no-drift windows', async (t) => {
  const processes = {
    normal: (r: () => number) => 100 + 15 * normalDraw(r),
    'zero-heavy tail': (r: () => number) => (r() < 0.7 ? 0 : Math.exp(normalDraw(r)) / 100),
  };
  for (const [name, draw] of Object.entries(processes)) {
    const random = seededRandom(42);
    const N = 2000;
    const window = 100;
    const levels = [0.01, 0.001];
    const breaches: Record<string, number[]> = { psi: [0, 0], ks: [0, 0], wasserstein: [0, 0] };
    let windows = 0;
    for (let b = 0; b < 12; b++) {
      const values = Float64Array.from({ length: N }, () => draw(random));
      const sorted = Float64Array.from(values).sort();
      const bins = binsOf(sorted, interiorBinsFor(N, window));
      const seq = Uint8Array.from(values, (v) => binOf(bins.edges, v));
      let mean = 0;
      for (const v of values) mean += v / N;
      let ss = 0;
      for (const v of values) ss += (v - mean) ** 2;
      const scale = Math.max(Math.sqrt(ss / (N - 1)), 1e-3);
      const cal = await calibrateStatistic(bins, seq, window, random, scale);
      const thresholds = Object.fromEntries(
        (['psi', 'ks', 'wasserstein'] as const).map((test) => [
          test,
          levels.map((p) => distributionThreshold(cal[test], test, N, window, window, p)),
        ]),
      );
      for (let w = 0; w < 1500; w++) {
        const counts = new Array(bins.counts.length).fill(0);
        const sums = new Array(bins.counts.length).fill(0);
        for (let i = 0; i < window; i++) {
          const v = draw(random);
          const k = binOf(bins.edges, v);
          counts[k]++;
          sums[k] += v;
        }
        const points = [...bins.points];
        const last = points.length - 1;
        for (const k of [0, last]) if (counts[k] > 0) points[k] = sums[k] / counts[k];
        const s = scoresOf(bins.counts, N, counts, window, points, scale);
        windows++;
        for (const test of ['psi', 'ks', 'wasserstein'] as const) {
          levels.forEach((_, i) => {
            const row = breaches[test] as number[];
            if (s[test] > (thresholds[test]?.[i] as number)) row[i] = (row[i] ?? 0) + 1;
          });
        }
      }
    }
    for (const test of ['psi', 'ks', 'wasserstein'] as const) {
      levels.forEach((p, i) => {
        const rate = (breaches[test]?.[i] as number) / windows;
        // at most 1.5 times the level (sampling noise on 18000 windows included), and not uselessly blunt
        t.ok(rate <= p * 1.5 + 3 * Math.sqrt(p / windows), `${name} ${test} at ${p}: breach rate ${rate}`);
        if (p === 0.01) t.ok(rate >= p / 20, `${name} ${test} at ${p}: not blunt (${rate})`);
      });
    }
  }
});

t.test(
  'the budget: one false alarm per period at the measured window length, shared by every test',
  async (t) => {
    // 30 days of 250 s windows (500 decisions at 2 fps) is 10368 windows
    const b = budgetFor(30 * 86_400_000, 250_000, 40, 28);
    t.ok(Math.abs(b.windowsPerPeriod - 10368) < 1e-6);
    t.ok(Math.abs(b.pDistribution - Math.sqrt(1 / 10368 / 2) / 40) < 1e-12);
    // two breaching windows in a row for any of the 40 tests: at most (40 p)^2 per window
    t.ok(
      10368 * (40 * b.pDistribution) ** 2 <= 0.5 + 1e-9,
      'distribution tests: at most half an alarm per period',
    );
    t.ok(Math.abs(10368 * 28 * (1 / b.chartArl) - 0.5) < 1e-9, 'charts: the other half');
    t.ok(
      budgetFor(30 * 86_400_000, 10_000, 40, 28).pDistribution < b.pDistribution,
      'faster windows, stricter tests',
    );
  },
);
