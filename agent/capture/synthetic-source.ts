import { type Clock, sleep, systemClock } from '../service.js';
import type { Frame, FrameSource } from './frame.js';

/**
 * Generated raw RGB frames at a fixed rate: a gradient with a bright square that moves each frame. For tests,
 * benchmarks and demos without a camera; `next` waits for the next frame tick, as a real stream would.
 */
export class SyntheticSource implements FrameSource {
  readonly kind = 'synthetic';
  private counter = 0;
  private nextAt = 0;
  private readonly background: Buffer;

  constructor(
    private readonly width: number,
    private readonly height: number,
    private readonly fps: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.background = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 3;
        this.background[i] = (x * 255) / width;
        this.background[i + 1] = (y * 255) / height;
        this.background[i + 2] = 96;
      }
    }
  }

  async next(signal: AbortSignal): Promise<Frame> {
    const now = this.clock.now();
    const wait = Math.max(0, this.nextAt - now);
    if (wait > 0) await sleep(wait, signal, this.clock);
    signal.throwIfAborted();
    this.nextAt = Math.max(this.nextAt, now) + 1000 / this.fps;
    return {
      kind: 'raw',
      data: this.render(this.counter++),
      width: this.width,
      height: this.height,
      channels: 3,
      capturedAt: this.clock.now(),
      name: `synthetic-${this.counter}`,
    };
  }

  async close(): Promise<void> {}

  private render(n: number): Buffer {
    const frame = Buffer.from(this.background);
    const size = Math.max(4, Math.floor(Math.min(this.width, this.height) / 6));
    const x0 = (n * 7) % Math.max(1, this.width - size);
    const y0 = Math.floor(this.height / 2 - size / 2);
    for (let y = y0; y < y0 + size; y++) {
      frame.fill(255, (y * this.width + x0) * 3, (y * this.width + x0 + size) * 3);
    }
    return frame;
  }
}
