import { join } from 'node:path';
import sharp from 'sharp';
import type { Frame } from '../capture/index.js';

/** Same guard as preprocessing and the image store: a frame above this many pixels is never decoded. */
const MAX_INPUT_PIXELS = 40_000_000;
/** Kept for labelling: quality 90, a little above the review copies, since a trainer reads these. */
const JPEG_QUALITY = 90;

function isJpeg(data: Buffer): boolean {
  return data.length > 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff;
}

/** The frame as a JPEG: a JPEG frame as it came (the camera's own bytes), anything else encoded. */
export async function frameAsJpeg(frame: Frame): Promise<Buffer> {
  if (frame.kind === 'encoded' && isJpeg(frame.data)) return frame.data;
  const image =
    frame.kind === 'raw'
      ? sharp(frame.data, {
          raw: { width: frame.width, height: frame.height, channels: frame.channels },
          limitInputPixels: MAX_INPUT_PIXELS,
        })
      : sharp(frame.data, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' });
  return image.rotate().removeAlpha().jpeg({ quality: JPEG_QUALITY }).toBuffer();
}

/**
 * Where the image store keeps a decision's frame: content-addressed, `imagesDir/<sha256[0:2]>/<sha256>.jpg`
 * (store/image-store.ts). Read here, never written: the dataset export only reads what the store kept, and
 * may run in another process (`edge-agent dataset export`) beside a running agent.
 */
export function storedFramePath(imagesDir: string, sha256: string): string {
  return join(imagesDir, sha256.slice(0, 2), `${sha256}.jpg`);
}
