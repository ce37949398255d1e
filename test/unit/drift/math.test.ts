import t from 'tap';
import {
  binomialDraw,
  chiSquareUpperQuantile,
  gammaQ,
  gammaUpperQuantile,
  multinomialDraw,
  normalCdf,
  normalQuantile,
  quantileSorted,
  round,
  seededRandom,
} from '../../../agent/drift/math.js';

// reference values from R (pnorm, qnorm, qchisq, pgamma)
t.test('normal distribution functions hold in the far tail', async (t) => {
  t.ok(Math.abs(normalCdf(1.959964) - 0.975) < 1e-7);
  t.ok(Math.abs(normalCdf(-5) / 2.866516e-7 - 1) < 1e-5, 'relative accuracy at 5 sigma');
  t.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-6);
  t.ok(Math.abs(normalQuantile(1e-7) + 5.199338) < 1e-5);
  t.ok(Math.abs(normalQuantile(0.5)) < 1e-12);
});

t.test('gamma and chi-square upper quantiles match tables', async (t) => {
  t.ok(Math.abs(chiSquareUpperQuantile(1, 0.05) - 3.841459) < 1e-5);
  t.ok(Math.abs(chiSquareUpperQuantile(10, 1e-6) - 46.85613) < 0.02);
  t.ok(Math.abs(chiSquareUpperQuantile(3, 0.001) - 16.26624) < 1e-4);
  t.ok(Math.abs(gammaQ(2.5, 10) - 0.001249731) < 1e-8, 'pgamma(10, 2.5, lower = FALSE)');
  const x = gammaUpperQuantile(0.7, 1e-9);
  t.ok(Math.abs(gammaQ(0.7, x) / 1e-9 - 1) < 1e-6, 'inverts itself at 1e-9');
});

t.test('binomial and multinomial draws have the right mean and keep the total', async (t) => {
  const random = seededRandom(7);
  for (const [n, p] of [
    [50, 0.1],
    [5000, 0.3],
    [200, 0.95],
  ] as const) {
    let sum = 0;
    for (let i = 0; i < 4000; i++) sum += binomialDraw(n, p, random);
    const mean = sum / 4000;
    t.ok(
      Math.abs(mean - n * p) < 4 * Math.sqrt((n * p * (1 - p)) / 4000) + 0.01,
      `Binomial(${n}, ${p}) mean ${mean}`,
    );
  }
  const out = new Float64Array(4);
  for (let i = 0; i < 100; i++) {
    multinomialDraw(37, [1, 0, 5, 2], random, out);
    t.equal(
      out.reduce((a, b) => a + b, 0),
      37,
    );
    t.equal(out[1], 0, 'an empty category stays empty');
  }
});

t.test('quantiles interpolate and numbers round to significant digits', async (t) => {
  t.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  t.equal(quantileSorted([5], 0.9), 5);
  t.equal(round(123456, 3), 123000);
  t.equal(round(0.000123456, 2), 0.00012);
});
