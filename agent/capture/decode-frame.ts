import sharp, { type Sharp } from 'sharp';
import { AgentError, ErrorCodes } from '../errors.js';
import type { Frame } from './frame.js';
import { DECODABLE_FORMATS, encodedFrameProblem, MAX_ENCODED_FRAME_PIXELS } from './image-check.js';

/**
 * The one way a frame becomes pixels (preprocessing, stored images): every encoded frame is checked against
 * the format allow-list by its own header bytes before sharp sees it, so libvips never picks a loader from
 * hostile bytes (a 260-byte SVG named `.jpg` held a libuv thread for minutes, and a busy libuv thread also
 * holds up the process's exit); decoding is bounded in pixels (`limitInputPixels`).
 */

/** libjpeg's warnings for entropy data that ends before the last row: the frame was cut short. */
const TRUNCATION = /premature end|truncat/i;

function open(frame: Frame, failOn: 'warning' | 'error'): Sharp {
  if (frame.kind === 'raw') {
    return sharp(frame.data, {
      raw: { width: frame.width, height: frame.height, channels: frame.channels },
      limitInputPixels: MAX_ENCODED_FRAME_PIXELS,
    });
  }
  const problem = encodedFrameProblem(frame.data, DECODABLE_FORMATS);
  if (problem) throw new AgentError(ErrorCodes.FRAME_DECODE, `frame could not be decoded: ${problem}`);
  return sharp(frame.data, { limitInputPixels: MAX_ENCODED_FRAME_PIXELS, failOn });
}

/**
 * The frame opened for sharp under the same guard (format allow-list, pixel limit), strict about errors:
 * for the views that only show a frame (the technician page), where a lenient second pass is not needed.
 */
export function openGuarded(frame: Frame): Sharp {
  return open(frame, 'error');
}

/**
 * Runs `use` on the frame opened for decoding and returns its result. A JPEG cut short and closed with an
 * end marker decodes "fine" at libvips' default strictness (grey rows where the data ran out) and was judged
 * with confidence; so the first pass fails on warnings, a truncation is refused with its reason, and only a
 * frame that failed on another, harmless warning (extraneous bytes, odd SOS parameters: common in camera
 * firmware) is decoded a second time, leniently. Everything that fails is EVA_ERR_FRAME_DECODE.
 */
export async function decodeFrame<T>(frame: Frame, use: (image: Sharp) => Promise<T>): Promise<T> {
  try {
    return await use(open(frame, 'warning'));
  } catch (err) {
    if (err instanceof AgentError) throw err;
    const message = (err as Error).message ?? String(err);
    if (TRUNCATION.test(message)) {
      throw new AgentError(
        ErrorCodes.FRAME_DECODE,
        `frame could not be decoded: truncated image (${message})`,
        {
          cause: err,
        },
      );
    }
    if (frame.kind === 'raw') throw decodeError(err);
  }
  try {
    return await use(open(frame, 'error'));
  } catch (err) {
    throw err instanceof AgentError ? err : decodeError(err);
  }
}

function decodeError(err: unknown): AgentError {
  return new AgentError(ErrorCodes.FRAME_DECODE, `frame could not be decoded: ${(err as Error).message}`, {
    cause: err,
  });
}
