import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { SAMPLES } from './agent-process.js';

/**
 * Hostile and broken frames, for the capture and decode tests and the chaos suite's image fuzzing: each
 * generator is deterministic for a seed, so a failing case can be replayed.
 */

/** A real camera frame (640x480 JPEG from the demo set). */
export function goodJpeg(n = 1): Buffer {
  return readFileSync(join(SAMPLES, `${String(n).padStart(4, '0')}.jpg`));
}

/**
 * An SVG whose text expands nested XML entities: `depth` 2 renders in under a second here, 3 held a libuv
 * thread for minutes (the campaign's 260-byte file). Named `.jpg` by whoever drops it.
 */
export function svgEntityBomb(depth = 3): Buffer {
  let entities = `<!ENTITY a "${'a'.repeat(53)}">`;
  let previous = 'a';
  for (let i = 0; i < depth; i++) {
    const name = String.fromCharCode(98 + i);
    entities += `<!ENTITY ${name} "${`&${previous};`.repeat(10)}">`;
    previous = name;
  }
  return Buffer.from(
    `<?xml version="1.0"?><!DOCTYPE s [${entities}]><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&${previous};</text></svg>`,
  );
}

/** A JPEG cut at `fraction` of its length with an end-of-image marker appended: looks whole, is not. */
export function truncatedJpegWithEnd(jpeg: Buffer = goodJpeg(), fraction = 0.5): Buffer {
  return Buffer.concat([jpeg.subarray(0, Math.floor(jpeg.length * fraction)), Buffer.from([0xff, 0xd9])]);
}

/** A JPEG cut short, no end marker: what a half-done upload looks like. */
export function cutJpeg(jpeg: Buffer = goodJpeg(), fraction = 0.5): Buffer {
  return jpeg.subarray(0, Math.floor(jpeg.length * fraction));
}

/** A valid image of width x height (a 1x1 frame got a confident NG). */
export function tinyImage(width = 1, height = 1, format: 'jpeg' | 'png' = 'jpeg'): Promise<Buffer> {
  const image = sharp({ create: { width, height, channels: 3, background: { r: 90, g: 90, b: 90 } } });
  return (format === 'png' ? image.png() : image.jpeg()).toBuffer();
}

/** A small deterministic PRNG (mulberry32), so fuzz cases replay from their seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One mutated frame from a good one: bytes flipped, a slice cut out or repeated, the header kept or not.
 * Covers what a flaky camera link or a fuzzer sends; every case must end as a clear error or a verdict.
 */
export function mutateFrame(base: Buffer, seed: number): Buffer {
  const rnd = prng(seed);
  const out = Buffer.from(base);
  const kind = Math.floor(rnd() * 4);
  if (kind === 0) {
    for (let i = 0; i < 1 + rnd() * 20; i++) out[Math.floor(rnd() * out.length)] = Math.floor(rnd() * 256);
    return out;
  }
  const at = Math.floor(rnd() * out.length);
  const len = Math.floor(rnd() * Math.min(4096, out.length - at));
  if (kind === 1) return Buffer.concat([out.subarray(0, at), out.subarray(at + len)]);
  if (kind === 2) return Buffer.concat([out.subarray(0, at + len), out.subarray(at)]);
  return Buffer.concat([out.subarray(0, at), Buffer.from([0xff, 0xd9])]);
}

/**
 * A whole JPEG with junk before its start-of-scan: libjpeg warns ("extraneous bytes before marker"), as it
 * does for some camera firmware's frames; the picture itself is complete and must still be judged.
 */
export function jpegWithExtraneousBytes(jpeg: Buffer = goodJpeg()): Buffer {
  const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
  return Buffer.concat([jpeg.subarray(0, sos), Buffer.from([1, 2, 3]), jpeg.subarray(sos)]);
}
