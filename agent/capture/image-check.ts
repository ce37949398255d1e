/**
 * Cheap checks on an encoded frame before it enters the pipeline: the header alone says what it is and
 * how big it would decode to, so garbage, a login page sent with status 200, a cut-off JPEG or an image bomb
 * is refused at the camera, with an error that names the camera, instead of failing later in a decoder.
 */

/**
 * The pixel bound of every decode (40 Mpx, above 8K's 33 Mpx; decode-frame.ts hands it to sharp as
 * `limitInputPixels`): an encoded frame a decoder would refuse anyway is refused here, before it queues.
 */
export const MAX_ENCODED_FRAME_PIXELS = 40_000_000;

/** How far from the end of a JPEG its end marker may sit: some cameras pad parts with CRLF or zeros. */
const JPEG_END_SLACK = 32;

/** How far from the end of a PNG its IEND chunk may sit (the same padding cameras add to JPEGs). */
const PNG_END_SLACK = 32;

/**
 * The formats any frame is decoded from: the allow-list every path that hands encoded bytes to sharp checks
 * first (decode-frame.ts). JPEG and PNG are what cameras send; TIFF is what machine-vision cameras save on
 * FTP. Anything else (SVG, whose XML entities libvips expands for minutes; GIF, WebP, HEIF; BMP, which
 * sharp cannot decode at all) never reaches a decoder.
 */
export const DECODABLE_FORMATS = ['jpeg', 'png', 'tiff'] as const;
export type ImageFormat = (typeof DECODABLE_FORMATS)[number];

export interface ImageInfo {
  format: ImageFormat;
  width: number | undefined;
  height: number | undefined;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_IEND = Buffer.from('IEND', 'latin1');
const JPEG_EOI = Buffer.from([0xff, 0xd9]);

/** Format and size from the header, or undefined when the bytes are not JPEG, PNG or TIFF. */
export function sniffImage(data: Buffer): ImageInfo | undefined {
  if (data.length >= 24 && data.subarray(0, 8).equals(PNG_SIGNATURE)) {
    return { format: 'png', width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  }
  if (data.length >= 4 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) {
    return { format: 'jpeg', ...jpegSize(data) };
  }
  if (data.length >= 8) {
    const order = data.subarray(0, 4).toString('latin1');
    if (order === 'II*\0' || order === 'MM\0*')
      return { format: 'tiff', ...tiffSize(data, order === 'II*\0') };
  }
  return undefined;
}

/**
 * Whether an encoded image has its end: a JPEG its end-of-image marker, a PNG its IEND chunk (each within a
 * few bytes of the end). A file still being uploaded has neither. TIFF has no end marker: always true.
 */
export function hasImageEnd(data: Buffer, info: ImageInfo): boolean {
  if (info.format === 'jpeg') return data.subarray(-JPEG_END_SLACK).indexOf(JPEG_EOI) !== -1;
  if (info.format === 'png') return data.subarray(-PNG_END_SLACK).indexOf(PNG_IEND) !== -1;
  return true;
}

/** ImageWidth (256) and ImageLength (257) from the first IFD of a classic TIFF (BigTIFF: no size). */
function tiffSize(data: Buffer, little: boolean): { width: number | undefined; height: number | undefined } {
  const u16 = (at: number) => (little ? data.readUInt16LE(at) : data.readUInt16BE(at));
  const u32 = (at: number) => (little ? data.readUInt32LE(at) : data.readUInt32BE(at));
  const size: { width: number | undefined; height: number | undefined } = {
    width: undefined,
    height: undefined,
  };
  const ifd = u32(4);
  if (ifd + 2 > data.length) return size;
  // the entry count is bounded by the buffer: a hostile count cannot make this loop long
  const entries = Math.min(u16(ifd), Math.floor((data.length - ifd - 2) / 12));
  for (let e = 0; e < entries; e++) {
    const at = ifd + 2 + e * 12;
    const tag = u16(at);
    if (tag !== 256 && tag !== 257) continue;
    const type = u16(at + 2);
    const value = type === 3 ? u16(at + 8) : type === 4 ? u32(at + 8) : undefined;
    if (tag === 256) size.width = value;
    else size.height = value;
  }
  return size;
}

/** Reads the first start-of-frame segment; stops at start-of-scan (entropy data follows, no more headers). */
function jpegSize(data: Buffer): { width: number | undefined; height: number | undefined } {
  let i = 2;
  while (i + 4 <= data.length) {
    if (data[i] !== 0xff) break;
    const marker = data[i + 1] ?? 0;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2; // markers without a length
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break;
    const length = data.readUInt16BE(i + 2);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof && i + 9 <= data.length) {
      return { height: data.readUInt16BE(i + 5), width: data.readUInt16BE(i + 7) };
    }
    i += 2 + length;
  }
  return { width: undefined, height: undefined };
}

/** `JPEG or PNG`, `JPEG, PNG or TIFF`. */
function listFormats(formats: readonly ImageFormat[]): string {
  const names = formats.map((f) => f.toUpperCase());
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : (names[0] ?? '');
}

function describeStart(data: Buffer): string {
  const text = data.subarray(0, 32).toString('latin1');
  // a printable start is usually an HTML error or login page: show it; otherwise show bytes
  return /^[\x20-\x7e\r\n\t]+$/.test(text)
    ? JSON.stringify(text)
    : data.subarray(0, 8).toString('hex').replace(/(..)/g, '$1 ').trim();
}

/**
 * Why `data` cannot be used as a frame, or undefined when it can. `accept` lists the formats this source
 * may deliver (an MJPEG stream must carry JPEGs; a snapshot may be a PNG).
 */
export function encodedFrameProblem(
  data: Buffer,
  accept: readonly ImageFormat[] = ['jpeg', 'png'],
): string | undefined {
  if (data.length === 0) return 'empty image (0 bytes)';
  const info = sniffImage(data);
  if (!info || !accept.includes(info.format)) {
    return `unsupported image format: not a ${listFormats(accept)} image (starts with ${describeStart(data)})`;
  }
  if (!hasImageEnd(data, info)) {
    const end = info.format === 'jpeg' ? 'end-of-image marker' : 'IEND chunk';
    return `truncated ${info.format.toUpperCase()} (${data.length} bytes, no ${end})`;
  }
  if (info.width === undefined || info.height === undefined || info.width === 0 || info.height === 0) {
    return `${info.format.toUpperCase()} header without a usable size`;
  }
  if (info.width * info.height > MAX_ENCODED_FRAME_PIXELS) {
    return `image of ${info.width}x${info.height} is over the ${MAX_ENCODED_FRAME_PIXELS} pixel limit`;
  }
  return undefined;
}
