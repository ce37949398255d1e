import { decodeFrame, type Frame, MAX_ENCODED_FRAME_PIXELS } from '../capture/index.js';
import { AgentError, ErrorCodes } from '../errors.js';
import { shownSize } from './frame-size.js';
import type { Region } from './image-stats.js';
import type { InputSpec } from './manifest-schema.js';
import { contentRegion, type Geometry, minSourceSize, planResize } from './resize-plan.js';
import { type Tensor, toTensor } from './tensor.js';

// the geometry and the tensor live apart from sharp: the session workers use them without loading it
export {
  contentRegion,
  type Geometry,
  MIN_SOURCE_FRACTION,
  minSourceSize,
  planResize,
  type ResizePlan,
  roundHalfEven,
} from './resize-plan.js';
export { type Tensor, toTensor } from './tensor.js';

/** Frames above this many pixels are refused before decoding (image bombs); 8K is 33 Mpx. */
export const MAX_INPUT_PIXELS = MAX_ENCODED_FRAME_PIXELS;

export interface Preprocessed {
  tensor: Tensor;
  sourceWidth: number;
  sourceHeight: number;
  geometry: Geometry;
  /** Where the frame lies in the model input (all of it, but for a letterbox's padding). */
  region: Region;
}

/**
 * Decodes a frame and turns it into the model's input tensor, as the manifest says. The frame goes through
 * capture's `decodeFrame` (format allow-list, pixel limit, truncated frames refused); one smaller than
 * `minSourceSize` is refused before its pixels are decoded. Every refusal is EVA_ERR_FRAME_DECODE.
 * Decoding and resizing are one sharp call on libuv's pool when the size is known from the header
 * (raw frames, JPEG: `shownSize`), so a session worker's decode of the next frame runs while its session
 * infers the current one; other formats ask sharp for their size first.
 */
export async function preprocess(frame: Frame, input: InputSpec): Promise<Preprocessed> {
  const known = shownSize(frame);
  const { pixels, plan } = await decodeFrame(frame, async (image) => {
    let size = known;
    if (!size) {
      // the size as shown, after EXIF orientation (what autoOrient below produces)
      const meta = await image.metadata();
      size = {
        width: meta.autoOrient?.width ?? meta.width ?? 0,
        height: meta.autoOrient?.height ?? meta.height ?? 0,
      };
    }
    const { width: w, height: h } = size;
    const min = minSourceSize(input);
    if (w < min.width || h < min.height) {
      throw new AgentError(
        ErrorCodes.FRAME_DECODE,
        `frame of ${w}x${h} is too small for model input ${input.width}x${input.height} (at least ${min.width}x${min.height})`,
      );
    }
    const plan = planResize(w, h, input);
    let pipeline = image
      .autoOrient() // honour EXIF orientation, as a person viewing the file would
      .removeAlpha()
      .toColourspace('srgb')
      // fastShrinkOnLoad false (the default) still lets libjpeg scale the DCT while decoding, leaving at
      // least 2x for the resize kernel (1080p -> 224: decoded at 1/2); `fastDecode` lets it go further
      // where sharp allows (docs/models.md: speed and how far the outputs move)
      .resize(plan.resizeWidth, plan.resizeHeight, {
        fit: 'fill',
        kernel: 'linear',
        fastShrinkOnLoad: input.fastDecode === true,
      });
    if (plan.pad) {
      const v = input.padValue;
      pipeline = pipeline.extend({ ...plan.pad, background: { r: v, g: v, b: v } });
    } else if (plan.crop) {
      pipeline = pipeline.extract({ ...plan.crop, width: input.width, height: input.height });
    }
    return { pixels: await pipeline.raw().toBuffer(), plan };
  });
  if (pixels.length !== input.width * input.height * 3) {
    throw new AgentError(ErrorCodes.FRAME_DECODE, `frame decoded to ${pixels.length} bytes, expected RGB`);
  }
  const { sourceWidth, sourceHeight } = plan.geometry;
  return {
    tensor: toTensor(pixels, input),
    sourceWidth,
    sourceHeight,
    geometry: plan.geometry,
    region: contentRegion(plan, input),
  };
}
