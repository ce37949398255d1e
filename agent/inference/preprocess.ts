import sharp from 'sharp';
import type { Frame } from '../capture/index.js';
import { AgentError, ErrorCodes } from '../errors.js';
import type { ModelManifest } from './manifest.js';

/** Frames above this many pixels are refused before decoding (image bombs); 8K is 33 Mpx. */
export const MAX_INPUT_PIXELS = 40_000_000;

export interface Tensor {
  data: Float32Array | Uint8Array;
  dims: number[];
  type: 'float32' | 'uint8';
}

export interface Preprocessed {
  tensor: Tensor;
  sourceWidth: number;
  sourceHeight: number;
}

/**
 * Decodes a frame and turns it into the model's input tensor, as the manifest says. Decoding and resizing
 * run on libuv's pool (sharp is asynchronous), so they overlap with inference in the workers.
 */
export async function preprocess(frame: Frame, input: ModelManifest['input']): Promise<Preprocessed> {
  let pixels: Buffer;
  let sourceWidth: number;
  let sourceHeight: number;
  try {
    const image =
      frame.kind === 'raw'
        ? sharp(frame.data, {
            raw: { width: frame.width, height: frame.height, channels: frame.channels },
            limitInputPixels: MAX_INPUT_PIXELS,
          })
        : sharp(frame.data, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' });
    const meta = frame.kind === 'raw' ? { width: frame.width, height: frame.height } : await image.metadata();
    sourceWidth = meta.width ?? 0;
    sourceHeight = meta.height ?? 0;
    pixels = await image
      .rotate() // honour EXIF orientation, as a person viewing the file would
      .removeAlpha()
      .toColourspace('srgb')
      // no JPEG shrink-on-load: it is faster but feeds the model other pixels than a full decode (the
      // way models are trained and golden images checked), and a raw video frame of the same scene
      .resize(input.width, input.height, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false })
      .raw()
      .toBuffer();
  } catch (err) {
    throw new AgentError(ErrorCodes.FRAME_DECODE, `frame could not be decoded: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (pixels.length !== input.width * input.height * 3) {
    throw new AgentError(ErrorCodes.FRAME_DECODE, `frame decoded to ${pixels.length} bytes, expected RGB`);
  }
  return { tensor: toTensor(pixels, input), sourceWidth, sourceHeight };
}

/** HWC RGB bytes -> the model's layout, colour order, dtype and normalisation. */
export function toTensor(rgb: Uint8Array, input: ModelManifest['input']): Tensor {
  const { width, height } = input;
  const plane = width * height;
  const order = input.colorOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const dims = input.layout === 'NCHW' ? [1, 3, height, width] : [1, height, width, 3];
  if (input.dtype === 'uint8') {
    const out = new Uint8Array(plane * 3);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        const v = rgb[p * 3 + (order[c] as number)] as number;
        out[input.layout === 'NCHW' ? c * plane + p : p * 3 + c] = v;
      }
    }
    return { data: out, dims, type: 'uint8' };
  }
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const src = order[c] as number;
    const mul = input.scale / input.std[c as 0 | 1 | 2];
    const add = -input.mean[c as 0 | 1 | 2] / input.std[c as 0 | 1 | 2];
    if (input.layout === 'NCHW') {
      const base = c * plane;
      for (let p = 0; p < plane; p++) out[base + p] = (rgb[p * 3 + src] as number) * mul + add;
    } else {
      for (let p = 0; p < plane; p++) out[p * 3 + c] = (rgb[p * 3 + src] as number) * mul + add;
    }
  }
  return { data: out, dims, type: 'float32' };
}
