import sharp from 'sharp';
import t from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { planResize, preprocess } from '../../../agent/inference/index.js';
import type { InputSpec } from '../../../agent/inference/manifest-schema.js';
import { roundHalfEven } from '../../../agent/inference/preprocess.js';

/** A smooth colour gradient with a sharp-edged square, so both exact and interpolated pixels are checked. */
function synthetic(width: number, height: number): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = Math.round((x / (width - 1)) * 255);
      data[i + 1] = Math.round((y / (height - 1)) * 255);
      data[i + 2] = (x + y) % 256;
    }
  }
  return data;
}

const raw = (data: Buffer, width: number, height: number): Frame => ({
  kind: 'raw',
  data,
  width,
  height,
  channels: 3,
  capturedAt: 0,
});

function input(over: Partial<InputSpec>): InputSpec {
  return {
    name: 'images',
    dtype: 'uint8',
    layout: 'NHWC',
    width: 320,
    height: 320,
    colorOrder: 'RGB',
    resize: 'letterbox',
    padValue: 114,
    scale: 1 / 255,
    mean: [0, 0, 0],
    std: [1, 1, 1],
    normalizedInGraph: false,
    ...over,
  };
}

/** OpenCV's INTER_LINEAR (half-pixel centres, clamped edges), the interpolation Ultralytics resizes with. */
function cvBilinear(src: Buffer, w: number, h: number, nw: number, nh: number): Float64Array {
  const out = new Float64Array(nw * nh * 3);
  for (let y = 0; y < nh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * (h / nh) - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const dy = fy - y0;
    for (let x = 0; x < nw; x++) {
      const fx = Math.min(Math.max((x + 0.5) * (w / nw) - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const dx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const p = (xx: number, yy: number) => src[(yy * w + xx) * 3 + c] as number;
        out[(y * nw + x) * 3 + c] =
          (p(x0, y0) * (1 - dx) + p(x1, y0) * dx) * (1 - dy) + (p(x0, y1) * (1 - dx) + p(x1, y1) * dx) * dy;
      }
    }
  }
  return out;
}

t.test("roundHalfEven is Python's round()", async (t) => {
  t.same(
    [0.5, 1.5, 2.5, 3.5, -0.5, -1.5, 53.4, 53.6, 2.4999].map(roundHalfEven),
    [0, 2, 2, 4, 0, -2, 53, 54, 2],
  );
});

t.test('letterbox geometry follows Ultralytics LetterBox', async (t) => {
  // 300x200 into 320x320: r = 1.0667, unpadded 320x213, dh = 53.5 -> top round(53.4)=53, bottom round(53.6)=54
  const p = planResize(300, 200, { width: 320, height: 320, resize: 'letterbox' });
  t.same([p.resizeWidth, p.resizeHeight], [320, 213]);
  t.same(p.pad, { top: 53, bottom: 54, left: 0, right: 0 });
  t.same(p.geometry, {
    sourceWidth: 300,
    sourceHeight: 200,
    scaleX: 320 / 300,
    scaleY: 320 / 300,
    padX: 0,
    padY: 53,
  });
  // 1280x720 into 640x640: r = 0.5, 640x360, 140 px each side
  t.same(planResize(1280, 720, { width: 640, height: 640, resize: 'letterbox' }).pad, {
    top: 140,
    bottom: 140,
    left: 0,
    right: 0,
  });
  // a size whose scaled width is exactly x.5: Python's round goes to even (5 * 0.5 = 2.5 -> 2)
  const odd = planResize(5, 10, { width: 5, height: 5, resize: 'letterbox' });
  t.equal(odd.resizeWidth, 2, 'round(2.5) = 2, as Python');
  t.same(
    odd.pad,
    { top: 0, bottom: 0, left: 1, right: 2 },
    'dw = 1.5: left round(1.4)=1, right round(1.6)=2',
  );
});

t.test('letterboxed pixels: pad 114 exactly where Ultralytics pads, bilinear image inside', async (t) => {
  for (const [w, h] of [
    [300, 200],
    [640, 480],
    [200, 333],
  ] as const) {
    const src = synthetic(w, h);
    const spec = input({});
    const pre = await preprocess(raw(src, w, h), spec);
    const plan = planResize(w, h, spec);
    const pad = plan.pad ?? { top: 0, bottom: 0, left: 0, right: 0 };
    const out = pre.tensor.data as Uint8Array;
    t.same(pre.tensor.dims, [1, 320, 320, 3]);
    let padWrong = 0;
    let maxDiff = 0;
    let sharpDiff = 0;
    const ref = cvBilinear(src, w, h, plan.resizeWidth, plan.resizeHeight);
    const inner = await sharp(src, { raw: { width: w, height: h, channels: 3 } })
      .resize(plan.resizeWidth, plan.resizeHeight, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    for (let y = 0; y < 320; y++) {
      for (let x = 0; x < 320; x++) {
        const ix = x - pad.left;
        const iy = y - pad.top;
        const inside = ix >= 0 && iy >= 0 && ix < plan.resizeWidth && iy < plan.resizeHeight;
        for (let c = 0; c < 3; c++) {
          const v = out[(y * 320 + x) * 3 + c] as number;
          if (!inside) {
            if (v !== 114) padWrong++;
            continue;
          }
          const k = (iy * plan.resizeWidth + ix) * 3 + c;
          sharpDiff = Math.max(sharpDiff, Math.abs(v - (inner[k] as number)));
          // the blue channel is a sawtooth (x+y mod 256): compare the smooth channels with OpenCV's math
          if (c < 2) maxDiff = Math.max(maxDiff, Math.abs(v - (ref[k] as number)));
        }
      }
    }
    t.equal(
      padWrong,
      0,
      `${w}x${h}: every pad pixel is 114 (top ${pad.top}, bottom ${pad.bottom}, left ${pad.left}, right ${pad.right})`,
    );
    t.equal(sharpDiff, 0, `${w}x${h}: the image sits exactly at (${pad.left}, ${pad.top})`);
    t.ok(maxDiff <= 2, `${w}x${h}: within ${maxDiff} grey levels of OpenCV's bilinear on the gradient`);
  }
});

t.test('short-side resize and centre crop, as torchvision Resize + CenterCrop', async (t) => {
  const src = synthetic(300, 200);
  const spec = input({ width: 128, height: 128, resize: 'shortside-centercrop' });
  const plan = planResize(300, 200, spec);
  t.same([plan.resizeWidth, plan.resizeHeight], [192, 128]);
  t.same(plan.crop, { left: 32, top: 0 });
  const pre = await preprocess(raw(src, 300, 200), spec);
  const expected = await sharp(src, { raw: { width: 300, height: 200, channels: 3 } })
    .resize(192, 128, { fit: 'fill', kernel: 'linear' })
    .extract({ left: 32, top: 0, width: 128, height: 128 })
    .raw()
    .toBuffer();
  t.same(Buffer.from(pre.tensor.data as Uint8Array), expected, 'the centre 128x128 of the resized image');
  t.same(pre.geometry, {
    sourceWidth: 300,
    sourceHeight: 200,
    scaleX: 192 / 300,
    scaleY: 128 / 200,
    padX: -32,
    padY: 0,
  });
});

t.test('float16 and BGR/NCHW tensors', async (t) => {
  const src = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]); // 2x2: red green / blue white
  const f16 = await preprocess(
    raw(src, 2, 2),
    input({ width: 2, height: 2, resize: 'stretch', dtype: 'float16', layout: 'NCHW', colorOrder: 'BGR' }),
  );
  t.equal(f16.tensor.type, 'float16');
  t.ok(f16.tensor.data instanceof Uint16Array);
  t.same(f16.tensor.dims, [1, 3, 2, 2]);
  // channel 0 is blue: red pixel 0, green 0, blue 1, white 1 (1.0 = 0x3c00)
  t.same(Array.from(f16.tensor.data.subarray(0, 4)), [0, 0, 0x3c00, 0x3c00]);
});

t.test('input.fastDecode: off is sharp default decode, on lets libjpeg shrink further', async (t) => {
  // 1920x1080 letterboxed to 640: a shrink of 3, where sharp's default decodes in full and fastShrinkOnLoad
  // at 1/2 (docs/models.md has the table)
  const jpeg = await sharp({
    create: {
      width: 1920,
      height: 1080,
      channels: 3,
      background: { r: 0, g: 0, b: 0 },
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  })
    .jpeg({ quality: 90 })
    .toBuffer();
  const frame: Frame = { kind: 'encoded', data: jpeg, capturedAt: 0 };
  const spec = input({ width: 640, height: 640, resize: 'letterbox' });
  const plan = planResize(1920, 1080, spec);
  const reference = (fastShrinkOnLoad: boolean) =>
    sharp(jpeg)
      .resize(plan.resizeWidth, plan.resizeHeight, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad })
      .extend({
        ...(plan.pad ?? { top: 0, bottom: 0, left: 0, right: 0 }),
        background: { r: 114, g: 114, b: 114 },
      })
      .raw()
      .toBuffer();
  const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
  const plain = (await preprocess(frame, spec)).tensor.data as Uint8Array;
  const off = (await preprocess(frame, { ...spec, fastDecode: false })).tensor.data as Uint8Array;
  const on = (await preprocess(frame, { ...spec, fastDecode: true })).tensor.data as Uint8Array;
  t.ok(same(plain, await reference(false)), 'the default decode, pixel for pixel');
  t.ok(same(off, plain), 'fastDecode: false changes nothing');
  t.ok(same(on, await reference(true)), 'fastDecode: true is sharp with fastShrinkOnLoad');
  t.notOk(same(on, off), 'and those pixels differ');
});
