/**
 * The numerical pieces drift monitoring needs, written out so nothing is guessed: a seeded generator (a
 * baseline's calibration is reproducible from its id), normal and gamma distribution functions accurate in
 * the far tail (thresholds sit at 1e-4 to 1e-7), binomial and multinomial draws for the bootstrap, and
 * quantiles of a sorted sample.
 */

/** A small, fast, seeded generator (mulberry32): the same seed gives the same calibration. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a text: a seed from a baseline id or a camera id. */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A standard normal draw (Box-Muller). */
export function normalDraw(random: () => number): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** erfc with a fractional error under 1.2e-7 everywhere (Numerical Recipes' erfcc), so tails stay exact. */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** P(Z <= x) for a standard normal Z. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** x with P(Z <= x) = p (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (p <= 0) return Number.NEGATIVE_INFINITY;
  if (p >= 1) return Number.POSITIVE_INFINITY;
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return (
      -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
    (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1)
  );
}

/** ln Γ(x), x > 0 (Lanczos, g = 7). */
export function logGamma(x: number): number {
  const g = [
    0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150291621406,
    12.507343278686905, -0.13857109526572012, 9.984369578019572e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let s = g[0] as number;
  for (let i = 1; i < 9; i++) s += (g[i] as number) / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/**
 * The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x), computed directly on the side
 * where it is small (continued fraction), so a tail of 1e-9 is not the difference of two numbers near 1.
 */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    // series for P
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return Math.max(0, 1 - sum * Math.exp(lead));
  }
  // Lentz's continued fraction for Q
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(lead) * h;
}

/** x with Q(a, x) = q: the upper-tail quantile of a Gamma(a, 1) variable (bisection on a bracketed root). */
export function gammaUpperQuantile(a: number, q: number): number {
  if (q >= 1) return 0;
  let lo = 0;
  let hi = Math.max(1, a);
  while (gammaQ(a, hi) > q) {
    lo = hi;
    hi *= 2;
    if (hi > 1e12) return hi;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (gammaQ(a, mid) > q) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** x with P(X > x) = q for a chi-square variable with `df` degrees of freedom. */
export function chiSquareUpperQuantile(df: number, q: number): number {
  return 2 * gammaUpperQuantile(df / 2, q);
}

/** A Binomial(n, p) draw: exact inversion for small means, a rounded normal for large ones. */
export function binomialDraw(n: number, p: number, random: () => number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  const mean = n * p;
  if (mean < 30 || n * (1 - p) < 30) {
    // inversion from the smaller tail: O(mean) steps
    const flip = p > 0.5;
    const pp = flip ? 1 - p : p;
    const q = 1 - pp;
    let prob = q ** n;
    if (prob === 0) return flip ? n - Math.round(n * pp) : Math.round(n * pp); // never for mean < 30
    let cdf = prob;
    const u = random();
    let k = 0;
    while (u > cdf && k < n) {
      prob *= ((n - k) / (k + 1)) * (pp / q);
      k++;
      cdf += prob;
    }
    return flip ? n - k : k;
  }
  const draw = Math.round(mean + Math.sqrt(mean * (1 - p)) * normalDraw(random));
  return Math.min(n, Math.max(0, draw));
}

/** A Multinomial(n, probs) draw into `out` (conditional binomials). `probs` need not be normalised. */
export function multinomialDraw(
  n: number,
  probs: ArrayLike<number>,
  random: () => number,
  out: Float64Array,
): Float64Array {
  let total = 0;
  for (let i = 0; i < probs.length; i++) total += probs[i] as number;
  let left = n;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    if (i === probs.length - 1 || left === 0) {
      out[i] = i === probs.length - 1 ? left : 0;
      left -= out[i] as number;
      total -= p;
      continue;
    }
    const k = total > 0 ? binomialDraw(left, Math.min(1, p / total), random) : 0;
    out[i] = k;
    left -= k;
    total -= p;
  }
  return out;
}

/** The q-quantile of an ascending array (linear interpolation between order statistics, type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = (n - 1) * Math.min(1, Math.max(0, q));
  const i = Math.floor(pos);
  const frac = pos - i;
  const lo = sorted[i] as number;
  const hi = sorted[Math.min(n - 1, i + 1)] as number;
  return lo + (hi - lo) * frac;
}

/** The median of a few numbers (copied, not sorted in place). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  return quantileSorted(s, 0.5);
}

/** Rounds to `digits` significant digits, so reports stay readable and small. */
export function round(value: number, digits = 4): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const p = 10 ** (digits - 1 - Math.floor(Math.log10(Math.abs(value))));
  return Math.round(value * p) / p;
}
