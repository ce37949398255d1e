import { type Frame, sniffImage } from '../capture/index.js';

/**
 * A frame's size as shown (after its EXIF orientation), read from its header bytes without sharp. Knowing it
 * before decoding lets preprocessing plan the resize and decode in ONE sharp call: in a session worker, a
 * second call (metadata, then the pipeline) would wait for the thread to come back from `session.run`, so
 * the decode of the next frame would no longer overlap the current inference. Raw frames carry their size;
 * JPEG headers are read here (start-of-frame and the EXIF orientation tag, as libvips reads them); PNG,
 * TIFF and anything unclear give `undefined`: the caller asks sharp instead.
 */
export function shownSize(frame: Frame): { width: number; height: number } | undefined {
  if (frame.kind === 'raw') return { width: frame.width, height: frame.height };
  const info = sniffImage(frame.data);
  if (info?.format !== 'jpeg' || !info.width || !info.height) return undefined;
  const orientation = jpegOrientation(frame.data);
  if (orientation === undefined) return undefined;
  // 5-8 turn the image by a quarter: width and height swap (sharp's autoOrient does the same)
  return orientation >= 5 && orientation <= 8
    ? { width: info.height, height: info.width }
    : { width: info.width, height: info.height };
}

/** The segments before start-of-scan are all headers; a camera frame has a handful. */
const MAX_SEGMENTS = 64;
const EXIF_HEADER = Buffer.from('Exif\0\0', 'latin1');

/**
 * The EXIF orientation (1-8) of a JPEG, 1 when it has none, undefined when the header is anything but plain
 * (a segment running past the end, two EXIF blocks, an odd tag): the caller then asks sharp, whose answer is
 * the reference.
 */
export function jpegOrientation(data: Buffer): number | undefined {
  let i = 2;
  let found: number | undefined;
  for (let n = 0; n < MAX_SEGMENTS && i + 4 <= data.length; n++) {
    if (data[i] !== 0xff) return undefined;
    const marker = data[i + 1] as number;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return found ?? 1; // start of scan: the headers are over
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      i += 2; // markers without a length
      continue;
    }
    const length = data.readUInt16BE(i + 2);
    if (length < 2 || i + 2 + length > data.length) return undefined;
    if (marker === 0xe1 && length >= 8 && data.subarray(i + 4, i + 10).equals(EXIF_HEADER)) {
      if (found !== undefined) return undefined;
      found = tiffOrientation(data.subarray(i + 10, i + 2 + length));
      if (found === undefined) return undefined;
    }
    i += 2 + length;
  }
  return undefined;
}

/** Tag 0x0112 of IFD0 in an EXIF TIFF block: 1 when absent, undefined when unusual. */
function tiffOrientation(tiff: Buffer): number | undefined {
  if (tiff.length < 8) return undefined;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const little = order === 'II';
  const u16 = (at: number) => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (little ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return undefined;
  const count = u16(ifd);
  if (ifd + 2 + count * 12 > tiff.length) return undefined;
  for (let e = 0; e < count; e++) {
    const at = ifd + 2 + e * 12;
    if (u16(at) !== 0x0112) continue;
    const value = u16(at + 8);
    // a SHORT in range is what cameras write; anything else is left to sharp
    return u16(at + 2) === 3 && value >= 1 && value <= 8 ? value : undefined;
  }
  return 1;
}
