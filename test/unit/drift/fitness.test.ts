import t from 'tap';
import { type Baseline, unfitReason } from '../../../agent/drift/index.js';
import type { ImageStats } from '../../../agent/inference/index.js';

/** A baseline whose frames spanned these bands (only what fitness reads). */
function baseline(): Baseline {
  const stat = (band: [number, number], mean: number) => ({
    count: 500,
    mean,
    std: (band[1] - band[0]) / 5,
    band,
    bins: null,
    calibration: null,
    meanSpread: 1,
  });
  return {
    format: 1,
    id: 'b-1',
    cameraId: 'cam-1',
    model: { id: 'washer', version: '1', sha256: 'ab' },
    builtAt: 0,
    source: 'folder',
    frames: 500,
    window: 100,
    windows: 5,
    rate: null,
    statistics: {
      brightness: stat([96, 140], 118),
      contrast: stat([30, 50], 40),
      sharpness: stat([200, 500], 320),
      clippedDark: stat([0, 0.01], 0.002),
      clippedBright: stat([0, 0.02], 0.004),
    },
    classes: { counts: {}, spread: 1 },
    ngRate: { judged: 500, ng: 10, p: 0.02, spread: 1 },
  };
}

const normal: ImageStats = {
  brightness: 118,
  contrast: 40,
  sharpness: 320,
  meanR: 118,
  meanG: 118,
  meanB: 118,
  saturation: 0.05,
  clippedDark: 0.001,
  clippedBright: 0.002,
};

t.test('a frame like the baseline frames is fit, even at the edges of their band', async (t) => {
  t.equal(unfitReason(normal, baseline()), undefined);
  t.equal(
    unfitReason({ ...normal, brightness: 80, contrast: 34, sharpness: 180 }, baseline()),
    undefined,
    'a bit dim and soft',
  );
  t.equal(
    unfitReason({ ...normal, brightness: 60, contrast: 20, sharpness: 60 }, baseline()),
    undefined,
    'dim: less detail, not blur',
  );
});

t.test('frames the model cannot judge get the reason a technician can act on', async (t) => {
  t.equal(
    unfitReason({ ...normal, brightness: 12, contrast: 4, sharpness: 3 }, baseline()),
    'image too dark: brightness 12 vs baseline 96-140',
    'exposure before focus: a dark frame has little detail too',
  );
  t.match(unfitReason({ ...normal, brightness: 215 }, baseline()), /^image too bright: brightness 215/);
  t.match(
    unfitReason({ ...normal, clippedBright: 0.4 }, baseline()),
    /^image over-exposed: 40% of pixels blown white vs baseline 0%-2%/,
  );
  t.match(unfitReason({ ...normal, clippedDark: 0.5 }, baseline()), /^image under-exposed or covered/);
  t.match(unfitReason({ ...normal, contrast: 8 }, baseline()), /^image without contrast/);
  t.equal(
    unfitReason({ ...normal, sharpness: 40 }, baseline()),
    'image blurred: sharpness 40 vs baseline 200-500',
  );
});
