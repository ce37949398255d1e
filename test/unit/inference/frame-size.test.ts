import sharp from 'sharp';
import t from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { jpegOrientation, shownSize } from '../../../agent/inference/frame-size.js';

const encoded = (data: Buffer): Frame => ({ kind: 'encoded', data, capturedAt: 0 });
const base = () => sharp({ create: { width: 64, height: 40, channels: 3, background: '#808080' } });

t.test('a JPEG shows the size sharp says it shows, for every EXIF orientation', async (t) => {
  for (let orientation = 1; orientation <= 8; orientation++) {
    const data = await base().jpeg().withMetadata({ orientation }).toBuffer();
    const meta = await sharp(data).metadata();
    t.equal(jpegOrientation(data), orientation, `orientation ${orientation} read`);
    t.same(
      shownSize(encoded(data)),
      { width: meta.autoOrient?.width, height: meta.autoOrient?.height },
      `orientation ${orientation}: ${meta.autoOrient?.width}x${meta.autoOrient?.height}`,
    );
  }
});

t.test('a JPEG without EXIF has orientation 1; raw frames carry their size', async (t) => {
  const data = await base().jpeg().toBuffer();
  t.equal(jpegOrientation(data), 1);
  t.same(shownSize(encoded(data)), { width: 64, height: 40 });
  const raw: Frame = { kind: 'raw', data: Buffer.alloc(30), width: 5, height: 2, channels: 3, capturedAt: 0 };
  t.same(shownSize(raw), { width: 5, height: 2 });
});

t.test('anything unusual is left to sharp (undefined)', async (t) => {
  t.equal(shownSize(encoded(await base().png().toBuffer())), undefined, 'PNG');
  const jpeg = await base().jpeg().withMetadata({ orientation: 6 }).toBuffer();
  // a second EXIF block: which one libvips takes is its business
  const app1 = jpeg.subarray(2, 4 + jpeg.readUInt16BE(4));
  const twice = Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)]);
  t.equal(jpegOrientation(twice), undefined, 'two EXIF blocks');
  t.equal(jpegOrientation(jpeg.subarray(0, 30)), undefined, 'headers cut short');
  t.equal(shownSize(encoded(Buffer.from('not an image'))), undefined, 'not an image');
});
