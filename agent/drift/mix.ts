/**
 * The class mix: which classes the model predicts, and how often. Compared per window with a chi-square
 * test on a 2 x K table (baseline counts against window counts).
 */

/** A class seen fewer times than this in the baseline is pooled into OTHER (chi-square needs counts). */
export const MIN_CLASS_COUNT = 5;
export const OTHER = 'other';
/** Classes kept per window at most: the names come from the model, but a broken one must not grow a map. */
export const MAX_CLASSES = 64;

/** The categories a baseline's class counts are tested in: its common classes, then OTHER. */
export function categoriesOf(counts: Readonly<Record<string, number>>): string[] {
  const kept = Object.entries(counts)
    .filter(([, n]) => n >= MIN_CLASS_COUNT)
    .map(([c]) => c)
    .sort();
  return [...kept, OTHER];
}

/** Counts in `categories` order; classes not listed go to OTHER. */
export function countsIn(categories: readonly string[], counts: Readonly<Record<string, number>>): number[] {
  const out = new Array<number>(categories.length).fill(0);
  const other = categories.length - 1;
  for (const [c, n] of Object.entries(counts)) {
    const i = categories.indexOf(c);
    const at = i >= 0 ? i : other;
    out[at] = (out[at] as number) + n;
  }
  return out;
}

/** Pearson's chi-square of a 2 x K table; categories empty on both sides do not count towards df. */
export function chiSquareOf(
  ref: readonly number[],
  win: readonly number[],
): { statistic: number; df: number } {
  const R = ref.reduce((s, v) => s + v, 0);
  const W = win.reduce((s, v) => s + v, 0);
  if (R === 0 || W === 0) return { statistic: 0, df: 0 };
  let statistic = 0;
  let used = 0;
  for (let k = 0; k < ref.length; k++) {
    const total = (ref[k] as number) + (win[k] as number);
    if (total === 0) continue;
    used++;
    const eRef = (R * total) / (R + W);
    const eWin = (W * total) / (R + W);
    statistic += ((ref[k] as number) - eRef) ** 2 / eRef + ((win[k] as number) - eWin) ** 2 / eWin;
  }
  return { statistic, df: Math.max(0, used - 1) };
}

/** Adds one to `counts[name]`, pooling names beyond MAX_CLASSES into OTHER. */
export function countClass(counts: Record<string, number>, name: string): void {
  const key = Object.hasOwn(counts, name) || Object.keys(counts).length < MAX_CLASSES ? name : OTHER;
  counts[key] = (Object.hasOwn(counts, key) ? (counts[key] as number) : 0) + 1;
}
