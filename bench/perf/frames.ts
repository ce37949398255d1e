/**
 * Benchmark frames: 1080p JPEGs with photographic content, generated deterministically (seeded) and cached.
 * Flat colour decodes several times faster than a photo (JPEG decode cost grows with the coefficients left
 * after quantisation), so each frame is built like a photo's statistics: a 1/f multi-octave noise field
 * (the spectrum of natural scenes), a lit gradient background, textured and shaded objects with hard edges,
 * a slight lens blur, then sensor noise (shot noise grows with brightness), encoded at quality 90 with 4:2:0
 * chroma as cameras write. The result is 300-700 KB per frame, the size of a real 1080p photo at q90.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

export interface FrameSet {
  dir: string;
  files: string[];
  /** mean file size in bytes */
  meanBytes: number;
}

export interface FrameSpec {
  count: number;
  width: number;
  height: number;
  seed: number;
  quality: number;
}

export const DEFAULT_FRAMES: FrameSpec = { count: 32, width: 1920, height: 1080, seed: 1, quality: 90 };

/** mulberry32: a tiny seeded generator, so frame i of seed s is the same picture on every machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Box-Muller normal deviate. */
function gauss(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

/**
 * Value noise summed over octaves from `maxCell` down to `minCell` pixels, amplitude ~ cell^0.9 (about 1/f,
 * as natural images), normalised to roughly [-1, 1]. Bilinear lattice interpolation with a smoothstep.
 */
function fbm(
  w: number,
  h: number,
  r: () => number,
  maxCell: number,
  minCell: number,
  exponent = 0.9,
): Float32Array {
  const out = new Float32Array(w * h);
  let total = 0;
  for (let cell = maxCell; cell >= minCell; cell /= 2) {
    const amp = cell ** exponent;
    total += amp;
    const gw = Math.ceil(w / cell) + 2;
    const gh = Math.ceil(h / cell) + 2;
    const lattice = new Float32Array(gw * gh);
    for (let i = 0; i < lattice.length; i++) lattice[i] = r() * 2 - 1;
    const ix = new Int32Array(w);
    const fx = new Float32Array(w);
    for (let x = 0; x < w; x++) {
      const g = x / cell;
      ix[x] = Math.floor(g);
      const f = g - Math.floor(g);
      fx[x] = f * f * (3 - 2 * f);
    }
    for (let y = 0; y < h; y++) {
      const g = y / cell;
      const iy = Math.floor(g);
      let fy = g - iy;
      fy = fy * fy * (3 - 2 * fy);
      const row0 = iy * gw;
      const row1 = row0 + gw;
      const base = y * w;
      for (let x = 0; x < w; x++) {
        const i = ix[x] as number;
        const f = fx[x] as number;
        const a =
          (lattice[row0 + i] as number) +
          ((lattice[row0 + i + 1] as number) - (lattice[row0 + i] as number)) * f;
        const b =
          (lattice[row1 + i] as number) +
          ((lattice[row1 + i + 1] as number) - (lattice[row1 + i] as number)) * f;
        out[base + x] = (out[base + x] as number) + (a + (b - a) * fy) * amp;
      }
    }
  }
  const k = 2.2 / total;
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) * k;
  return out;
}

interface Shape {
  kind: 'disc' | 'box';
  cx: number;
  cy: number;
  a: number;
  b: number;
  angle: number;
  colour: [number, number, number];
  stripes: { freq: number; angle: number; depth: number };
  shade: number;
  texture: number;
}

function randomShape(r: () => number, w: number, h: number): Shape {
  // sizes follow a power law, as objects in a scene: many small, few large
  const size = (0.006 + r() ** 3 * 0.22) * w;
  return {
    kind: r() < 0.5 ? 'disc' : 'box',
    cx: r() * w,
    cy: r() * h,
    a: size,
    b: size * (0.3 + r() * 0.9),
    angle: r() * Math.PI,
    colour: [40 + r() * 190, 40 + r() * 190, 40 + r() * 190],
    stripes: { freq: r() < 0.5 ? 0 : 0.05 + r() * 0.5, angle: r() * Math.PI, depth: 6 + r() * 24 },
    shade: 0.3 + r() * 0.6,
    texture: 10 + r() * 50,
  };
}

/** One frame's RGB pixels (8-bit, interleaved), before lens blur and sensor noise. */
function scene(w: number, h: number, r: () => number): Uint8Array {
  const detail = fbm(w, h, r, 256, 2, 0.6);
  // fine texture (foliage, gravel, fabric) where a coarse mask says so, smooth surfaces elsewhere
  const fine = fbm(w, h, r, 16, 2, 0.3);
  const mask = fbm(w, h, r, 512, 64);
  const tintA = fbm(w, h, r, 512, 128);
  const tintB = fbm(w, h, r, 512, 128);
  const rgb = new Float32Array(w * h * 3);
  // background: a lit scene, brighter at the top, with a horizon-like colour shift, textured
  const top = [90 + r() * 120, 90 + r() * 120, 100 + r() * 120];
  const bottom = [30 + r() * 90, 30 + r() * 90, 30 + r() * 80];
  for (let y = 0; y < h; y++) {
    const t = y / (h - 1);
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const m = Math.max(0, (mask[p] as number) + 0.1);
      const d = (detail[p] as number) * 30 + (fine[p] as number) * 70 * m;
      const ta = (tintA[p] as number) * 22;
      const tb = (tintB[p] as number) * 22;
      rgb[p * 3] = (top[0] as number) * (1 - t) + (bottom[0] as number) * t + d + ta;
      rgb[p * 3 + 1] = (top[1] as number) * (1 - t) + (bottom[1] as number) * t + d - 0.5 * (ta + tb);
      rgb[p * 3 + 2] = (top[2] as number) * (1 - t) + (bottom[2] as number) * t + d + tb;
    }
  }
  const shapes = Array.from({ length: 80 + Math.floor(r() * 80) }, () => randomShape(r, w, h));
  for (const s of shapes) paint(rgb, w, h, s, r() < 0.4 ? fine : detail);
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(rgb[i] as number)));
  return out;
}

/** Paints one object: its colour, shading across it, stripes (fabric, grooves) and the shared texture. */
function paint(rgb: Float32Array, w: number, h: number, s: Shape, detail: Float32Array): void {
  const reach = Math.max(s.a, s.b) * 1.5;
  const x0 = Math.max(0, Math.floor(s.cx - reach));
  const x1 = Math.min(w - 1, Math.ceil(s.cx + reach));
  const y0 = Math.max(0, Math.floor(s.cy - reach));
  const y1 = Math.min(h - 1, Math.ceil(s.cy + reach));
  const cos = Math.cos(s.angle);
  const sin = Math.sin(s.angle);
  const sc = Math.cos(s.stripes.angle);
  const ss = Math.sin(s.stripes.angle);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x - s.cx;
      const dy = y - s.cy;
      const u = (dx * cos + dy * sin) / s.a;
      const v = (-dx * sin + dy * cos) / s.b;
      const inside = s.kind === 'disc' ? u * u + v * v <= 1 : Math.abs(u) <= 1 && Math.abs(v) <= 1;
      if (!inside) continue;
      const p = y * w + x;
      const light = 1 - s.shade * 0.5 * (u + v + 1) * 0.5;
      const stripe = s.stripes.freq > 0 ? Math.sin((x * sc + y * ss) * s.stripes.freq) * s.stripes.depth : 0;
      const tex = (detail[p] as number) * s.texture + stripe;
      rgb[p * 3] = s.colour[0] * light + tex;
      rgb[p * 3 + 1] = s.colour[1] * light + tex;
      rgb[p * 3 + 2] = s.colour[2] * light + tex;
    }
  }
}

/** Lens blur (sharp), then sensor noise: a read-noise floor plus shot noise that grows with the signal. */
async function develop(pixels: Uint8Array, w: number, h: number, r: () => number): Promise<Buffer> {
  const blurred = await sharp(pixels, { raw: { width: w, height: h, channels: 3 } })
    .blur(0.7)
    .raw()
    .toBuffer();
  for (let p = 0; p < w * h; p++) {
    const luma = gauss(r) * 1.2;
    for (let c = 0; c < 3; c++) {
      const i = p * 3 + c;
      const v = blurred[i] as number;
      const shot = gauss(r) * Math.sqrt(v) * 0.16;
      blurred[i] = Math.max(0, Math.min(255, Math.round(v + luma + shot)));
    }
  }
  return blurred;
}

/** Renders frame `index` of a set and encodes it as a camera would. */
export async function renderFrame(spec: FrameSpec, index: number): Promise<Buffer> {
  const r = rng(spec.seed * 1_000_003 + index * 7919);
  const pixels = scene(spec.width, spec.height, r);
  const developed = await develop(pixels, spec.width, spec.height, r);
  return sharp(developed, { raw: { width: spec.width, height: spec.height, channels: 3 } })
    .jpeg({ quality: spec.quality, chromaSubsampling: '4:2:0' })
    .toBuffer();
}

/** The frames of `spec` in `cacheRoot` (made once; a later run reuses them). */
export async function ensureFrames(
  cacheRoot: string,
  spec: FrameSpec,
  onProgress?: (done: number, total: number) => void,
): Promise<FrameSet> {
  const dir = join(cacheRoot, `frames-${spec.width}x${spec.height}-q${spec.quality}-seed${spec.seed}`);
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < spec.count; i++) {
    const file = join(dir, `${String(i + 1).padStart(4, '0')}.jpg`);
    if (!existsSync(file)) {
      const data = await renderFrame(spec, i);
      // written under another name first: a run stopped half-way never leaves a truncated frame
      const partial = `${file}.partial`;
      writeFileSync(partial, data);
      renameSync(partial, file);
    }
    files.push(file);
    onProgress?.(i + 1, spec.count);
  }
  const meanBytes = files.reduce((sum, f) => sum + statSync(f).size, 0) / Math.max(1, files.length);
  return { dir, files, meanBytes };
}

/** The JPEGs of a folder (the shipped samples, a user's own frames), by name. */
export function framesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.jpe?g$/i.test(f))
    .sort()
    .map((f) => join(dir, f));
}
