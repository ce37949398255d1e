/**
 * Cheap checks on an encoded frame before it enters the pipeline: the header alone says what it is and
 * how big it would decode to, so garbage, a login page sent with status 200, a cut-off JPEG or an image bomb
 * is refused at the camera, with an error that names the camera, instead of failing later in a decoder.
 */

/**
 * Same bound as inference's MAX_INPUT_PIXELS (40 Mpx, above 8K's 33 Mpx): an encoded frame preprocessing
 * would refuse anyway is refused here, before it queues. Kept here so capture does not load inference.
 */
export const MAX_ENCODED_FRAME_PIXELS = 40_000_000;

/** How far from the end of a JPEG its end marker may sit: some cameras pad parts with CRLF or zeros. */
const JPEG_END_SLACK = 32;

export interface ImageInfo {
  format: 'jpeg' | 'png';
  width: number | undefined;
  height: number | undefined;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Format and size from the header, or undefined when the bytes are neither JPEG nor PNG. */
export function sniffImage(data: Buffer): ImageInfo | undefined {
  if (data.length >= 24 && data.subarray(0, 8).equals(PNG_SIGNATURE)) {
    return { format: 'png', width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  }
  if (data.length >= 4 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) {
    return { format: 'jpeg', ...jpegSize(data) };
  }
  return undefined;
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
  accept: readonly ImageInfo['format'][] = ['jpeg', 'png'],
): string | undefined {
  if (data.length === 0) return 'empty image (0 bytes)';
  const info = sniffImage(data);
  if (!info || !accept.includes(info.format)) {
    return `not a ${accept.join(' or ').toUpperCase()} image (starts with ${describeStart(data)})`;
  }
  if (info.format === 'jpeg' && data.subarray(-JPEG_END_SLACK).indexOf(Buffer.from([0xff, 0xd9])) === -1) {
    return `truncated JPEG (${data.length} bytes, no end-of-image marker)`;
  }
  if (info.width === undefined || info.height === undefined || info.width === 0 || info.height === 0) {
    return `${info.format.toUpperCase()} header without a usable size`;
  }
  if (info.width * info.height > MAX_ENCODED_FRAME_PIXELS) {
    return `image of ${info.width}x${info.height} is over the ${MAX_ENCODED_FRAME_PIXELS} pixel limit`;
  }
  return undefined;
}
