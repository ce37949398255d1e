import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { focusOf, measureFocus } from '../../../agent/page/index.js';
import { SAMPLES } from '../../helpers/agent-process.js';

const photo = readFileSync(join(SAMPLES, '0001.jpg'));
const encoded = (data: Buffer) => ({ kind: 'encoded' as const, data, capturedAt: 1 });

t.test('sharpness falls as the image blurs: the figure a technician turns the focus ring by', async (t) => {
  const sharpFrame = await measureFocus(encoded(photo));
  const soft = await measureFocus(encoded(await sharp(photo).blur(2).jpeg().toBuffer()));
  const blurred = await measureFocus(encoded(await sharp(photo).blur(6).jpeg().toBuffer()));
  t.ok(sharpFrame.sharpness > soft.sharpness, `${sharpFrame.sharpness} > ${soft.sharpness}`);
  t.ok(soft.sharpness > blurred.sharpness, `${soft.sharpness} > ${blurred.sharpness}`);
  t.equal(sharpFrame.width, 640);
  t.equal(sharpFrame.height, 480);
});

t.test('exposure: mean brightness and the shares crushed to black and blown to white', async (t) => {
  const w = 64;
  const h = 64;
  const grey = new Uint8Array(w * h);
  grey.fill(0, 0, (w * h) / 4); // a quarter black
  grey.fill(255, (w * h) / 4, (w * h) / 2); // a quarter white
  grey.fill(128, (w * h) / 2); // half mid-grey
  const m = focusOf(grey, w, h);
  t.equal(m.exposure.dark, 0.25);
  t.equal(m.exposure.bright, 0.25);
  t.ok(Math.abs(m.exposure.mean - (255 / 4 + 64)) < 1, `mean ${m.exposure.mean}`);
  t.equal(focusOf(new Uint8Array(w * h).fill(90), w, h).sharpness, 0, 'a flat image has no edges');
});

t.test('raw frames (decoded video) are measured the same way', async (t) => {
  const { data, info } = await sharp(photo).raw().toBuffer({ resolveWithObject: true });
  const m = await measureFocus({
    kind: 'raw',
    data,
    width: info.width,
    height: info.height,
    channels: 3,
    capturedAt: 1,
  });
  const fromJpeg = await measureFocus(encoded(photo));
  t.ok(Math.abs(m.sharpness - fromJpeg.sharpness) / fromJpeg.sharpness < 0.05, 'within 5 %');
  t.ok(Math.abs(m.exposure.mean - fromJpeg.exposure.mean) < 1);
});
