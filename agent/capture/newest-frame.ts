import type { Frame, FrameCounters } from './frame.js';

interface Waiter {
  resolve(frame: Frame): void;
  reject(err: unknown): void;
}

/**
 * Newest frame wins, for streams that produce frames whether or not anyone asks (RTSP, V4L2, MJPEG). A
 * trigger must see the part in front of the camera now, so `wait()` resolves with the first frame that
 * completes after the call, never one held from before; frames nobody asked for are counted and let go
 * rather than queued, so a slow consumer costs dropped frames, not memory or latency. Every caller waiting
 * when a frame completes gets that same frame (its Buffer is shared: treat it as read-only).
 */
export class NewestFrameSlot {
  readonly counters: FrameCounters = { received: 0, delivered: 0, dropped: 0 };
  private readonly waiters = new Set<Waiter>();
  private endError: Error | undefined;

  get ended(): boolean {
    return this.endError !== undefined;
  }

  wait(signal: AbortSignal): Promise<Frame> {
    if (this.endError) return Promise.reject(this.endError);
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<Frame>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(signal.reason);
      };
      const waiter: Waiter = {
        resolve: (frame) => {
          signal.removeEventListener('abort', onAbort);
          resolve(frame);
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.waiters.add(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Hands `frame` to everyone waiting; false when nobody was (the caller may then reuse its buffer). */
  publish(frame: Frame): boolean {
    this.counters.received++;
    if (this.waiters.size === 0) {
      this.counters.dropped++;
      return false;
    }
    this.counters.delivered++;
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const w of waiting) w.resolve(frame);
    return true;
  }

  /** The stream is over: callers waiting now, and every later caller, get `err`. */
  end(err: Error): void {
    if (this.endError) return;
    this.endError = err;
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const w of waiting) w.reject(err);
  }
}
