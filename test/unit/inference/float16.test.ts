import t from 'tap';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../../agent/inference/index.js';

t.test('float32 -> float16 bits match IEEE 754 half precision', async (t) => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [0.1, 0x2e66], // nearest half to 0.1 is 0.0999755859375
    [1 / 3, 0x3555],
    [65504, 0x7bff], // largest finite half
    [65519, 0x7bff], // rounds down to the largest finite
    [65520, 0x7c00], // halfway to 65536: ties to even = infinity
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [6.103515625e-5, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // exactly half the smallest subnormal: ties to even (0)
    [4.5e-8, 0x0001],
    [1e-9, 0x0000],
    [1.0009765625, 0x3c01], // 1 + 2^-10: exact
    [1.00048828125, 0x3c00], // 1 + 2^-11: tie, even mantissa stays
    [1.00146484375, 0x3c02], // 1 + 3*2^-11: tie, odd mantissa rounds up
    [2047.5, 0x6800], // rounds up to 2048 (tie to even across the exponent)
  ];
  for (const [value, bits] of cases) {
    t.equal(float32ToFloat16Bits(value), bits, `${value} -> 0x${bits.toString(16).padStart(4, '0')}`);
  }
  t.equal(float32ToFloat16Bits(Number.NaN) & 0x7c00, 0x7c00, 'NaN keeps an all-ones exponent');
  t.not(float32ToFloat16Bits(Number.NaN) & 0x3ff, 0, 'NaN keeps a non-zero mantissa');
});

t.test('every finite half survives a round trip through float32', async (t) => {
  let bad = 0;
  for (let h = 0; h < 0x10000; h++) {
    const e = (h >> 10) & 0x1f;
    if (e === 31) continue;
    if (float32ToFloat16Bits(float16BitsToFloat32(h)) !== h) bad++;
  }
  t.equal(bad, 0, 'all 63488 finite halves round-trip');
  t.equal(float16BitsToFloat32(0x3c00), 1);
  t.equal(float16BitsToFloat32(0x7c00), Number.POSITIVE_INFINITY);
  t.ok(Number.isNaN(float16BitsToFloat32(0x7e00)));
});
