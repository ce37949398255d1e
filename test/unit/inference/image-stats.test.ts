import t from 'tap';
import {
  contentRegion,
  imageStatsOf,
  planResize,
  type StatsInput,
  toTensor,
} from '../../../agent/inference/index.js';

const W = 64;
const H = 48;

/** An RGB image: a checkerboard of 8 px squares in two greys, with a colour tint. */
function checker(dark: number, light: number, tint: [number, number, number] = [1, 1, 1]): Uint8Array {
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const v = ((x >> 3) + (y >> 3)) % 2 ? light : dark;
      for (let c = 0; c < 3; c++)
        rgb[(y * W + x) * 3 + c] = Math.min(255, Math.round(v * tint[c as 0 | 1 | 2]));
    }
  }
  return rgb;
}

/** A 3x3 box blur, as a defocused lens would spread each point. */
function blurred(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        let n = 0;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            const yy = y + dy;
            if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
            s += rgb[(yy * W + xx) * 3 + c] as number;
            n++;
          }
        }
        out[(y * W + x) * 3 + c] = Math.round(s / n);
      }
    }
  }
  return out;
}

const imagenet: StatsInput = {
  width: W,
  height: H,
  layout: 'NCHW',
  colorOrder: 'RGB',
  dtype: 'float32',
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

t.test('statistics read back through any tensor layout, colour order and dtype agree', async (t) => {
  const rgb = checker(60, 180, [1.1, 1, 0.8]);
  const reference = imageStatsOf(rgb, {
    ...imagenet,
    dtype: 'uint8',
    layout: 'NHWC',
    scale: 1,
    mean: [0, 0, 0],
    std: [1, 1, 1],
  });
  for (const input of [
    imagenet,
    { ...imagenet, layout: 'NHWC' as const },
    { ...imagenet, colorOrder: 'BGR' as const },
    { ...imagenet, dtype: 'float16' as const },
    { ...imagenet, dtype: 'uint8' as const, layout: 'NHWC' as const, colorOrder: 'BGR' as const },
  ]) {
    const tensor = toTensor(rgb, input);
    const s = imageStatsOf(tensor.data, input);
    for (const [k, v] of Object.entries(reference)) {
      const tol =
        input.dtype === 'float16' ? 0.02 * Math.max(1, Math.abs(v)) : 1e-3 * Math.max(1, Math.abs(v));
      t.ok(
        Math.abs(s[k as keyof typeof s] - v) < tol,
        `${input.layout} ${input.colorOrder} ${input.dtype} ${k}: ${s[k as keyof typeof s]} vs ${v}`,
      );
    }
  }
  t.ok(Math.abs(reference.meanR - 132) < 0.6 && Math.abs(reference.meanB - 96) < 0.6, 'channel means');
  t.ok(reference.saturation > 0.2, `a tinted image is saturated: ${reference.saturation}`);
});

t.test('exposure, contrast, clipping and focus move the statistics they should', async (t) => {
  const input = { ...imagenet };
  const stats = (rgb: Uint8Array) => imageStatsOf(toTensor(rgb, input).data, input);
  const normal = stats(checker(60, 180));
  t.ok(Math.abs(normal.brightness - 120) < 0.5 && Math.abs(normal.contrast - 60) < 0.5);
  const dark = stats(checker(2, 20));
  t.ok(
    dark.brightness < 15 && dark.clippedDark > 0.45,
    `dark: ${dark.brightness}, ${dark.clippedDark} crushed`,
  );
  const blown = stats(checker(200, 255));
  t.ok(blown.clippedBright > 0.45, `blown: ${blown.clippedBright}`);
  const soft = stats(blurred(checker(60, 180)));
  t.ok(soft.sharpness < normal.sharpness * 0.6, `blur: sharpness ${normal.sharpness} -> ${soft.sharpness}`);
  t.ok(Math.abs(soft.brightness - normal.brightness) < 1, 'blur keeps the exposure');
});

t.test("a letterbox's padding is not part of the scene", async (t) => {
  const input = { ...imagenet, width: 64, height: 64, resize: 'letterbox' as const };
  const plan = planResize(W, H, input);
  const region = contentRegion(plan, input);
  t.same(region, { x: 0, y: 8, width: 64, height: 48 });
  const padded = new Uint8Array(64 * 64 * 3).fill(114);
  padded.set(checker(60, 180), 8 * 64 * 3);
  const s = imageStatsOf(toTensor(padded, input).data, input, region);
  t.ok(Math.abs(s.brightness - 120) < 0.5, `the grey bands are left out: ${s.brightness}`);
});
