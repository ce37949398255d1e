import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp, { type Region } from 'sharp';
import t from 'tap';
import { judgedDetail, judgedJpeg } from '../../../agent/store/index.js';
import { REPO, SAMPLES } from '../../helpers/agent-process.js';

const photo = readFileSync(join(SAMPLES, '0001.jpg'));
const frame = { kind: 'encoded' as const, data: photo, capturedAt: 1 };

/** Mean absolute difference per channel between two images of the same size (0-255). */
async function difference(a: Buffer, b: Buffer, region?: Region): Promise<number> {
  const read = (x: Buffer) => {
    const img = sharp(x).resize(640, 480, { fit: 'fill' });
    return (region ? img.extract(region) : img).removeAlpha().raw().toBuffer();
  };
  const [ra, rb] = await Promise.all([read(a), read(b)]);
  let sum = 0;
  for (let i = 0; i < ra.length; i++) sum += Math.abs((ra[i] as number) - (rb[i] as number));
  return sum / ra.length;
}

t.test('classification: a banner with the verdict, the top class and its score', async (t) => {
  const view = {
    verdict: 'NG',
    reason: 'scratch 0.91; ng score 0.93 >= 0.5',
    result: { task: 'classification' as const, scores: { ok: 0.07, scratch: 0.91, dent: 0.02 } },
  };
  t.equal(judgedDetail(view), 'scratch 0.91');
  const jpeg = await judgedJpeg(frame, view);
  const meta = await sharp(jpeg).metadata();
  t.equal(meta.format, 'jpeg');
  t.same([meta.width, meta.height], [640, 480], 'the frame size (under 960 px wide)');
  const banner = { left: 0, top: 0, width: 640, height: 20 };
  t.ok((await difference(jpeg, photo, banner)) > 40, 'the banner is drawn over the top');
  t.ok(
    (await difference(jpeg, photo, { left: 0, top: 100, width: 640, height: 300 })) < 8,
    'the rest is the frame',
  );
});

t.test('detection: the boxes and labels, as the stored annotated copy draws them', async (t) => {
  const box: [number, number, number, number] = [300, 200, 400, 300];
  const view = {
    verdict: 'NG',
    reason: 'dent',
    result: { task: 'detection' as const, detections: [{ label: 'dent', score: 0.9, box }] },
  };
  t.equal(judgedDetail(view), '1 detection');
  const jpeg = await judgedJpeg(frame, view);
  const edge = { left: 300, top: 199, width: 100, height: 3 };
  const d = await difference(jpeg, photo, edge);
  t.ok(d > 30, `the box edge is drawn (${d.toFixed(1)})`);
  t.ok(
    (await difference(jpeg, photo, { left: 320, top: 220, width: 60, height: 60 })) < 8,
    'inside the box is the frame',
  );
});

t.test('anomaly: the heat map laid over the whole frame, with score and threshold', async (t) => {
  const map = {
    width: 4,
    height: 4,
    data: new Float32Array([0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]),
  };
  const view = {
    verdict: 'NG',
    reason: 'anomaly',
    result: { task: 'anomaly' as const, score: 0.73, threshold: 0.5 },
  };
  t.equal(judgedDetail(view), 'anomaly 0.73 (threshold 0.50)');
  const jpeg = await judgedJpeg(frame, view, map);
  t.ok(
    (await difference(jpeg, photo, { left: 0, top: 100, width: 640, height: 300 })) > 20,
    'the map tints the frame',
  );
});

t.test(
  'no result (a fallback or an error): the verdict and the reason; a wide frame is scaled down',
  async (t) => {
    const wide = await sharp(join(REPO, 'models/washer/golden', 'ok-1.jpg'))
      .resize(1920, 1080, { fit: 'fill' })
      .jpeg()
      .toBuffer();
    const view = { verdict: 'UNCERTAIN', reason: 'no verdict within 250 ms (inference)', result: null };
    t.equal(judgedDetail(view), 'no verdict within 250 ms (inference)');
    const meta = await sharp(
      await judgedJpeg({ kind: 'encoded', data: wide, capturedAt: 1 }, view),
    ).metadata();
    t.same([meta.width, meta.height], [960, 540]);
    await t.rejects(judgedJpeg({ kind: 'encoded', data: Buffer.from('not an image'), capturedAt: 1 }, view));
  },
);
