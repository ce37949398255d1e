import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Service } from '../service.js';

/** A frame's bytes -> their sha256 (hex): what a decision's `image.sha256` names. */
export type HashFrame = (data: Buffer) => Promise<string>;

/** On the calling thread: tools, tests, and the FrameHasher's fallback. */
export const sha256Now: HashFrame = (data) => Promise.resolve(sha256Hex(data));

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The worker's whole program (evaluated, so the same code runs from `tsx` and from `dist/`). */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, data }) => {
  parentPort.postMessage({ id, sha256: createHash('sha256').update(data).digest('hex') });
});
`;

/** A worker that failed this often is not started again: frames are hashed on the event loop from then on. */
const MAX_WORKER_FAILURES = 3;

interface Pending {
  data: Uint8Array;
  resolve(sha256: string): void;
}

/**
 * Hashes frames on a worker thread, so the event loop does not spend ~0.3 ms per 1080p JPEG on it (the
 * hash runs while the model judges the frame). Posting a frame copies it (about 0.02 ms for 600 KB); a
 * frame that is a view into a larger buffer is copied to its own bytes first, so the whole buffer is
 * never cloned. It never fails a part: while the worker is down (not started, failed, stopped) a frame is
 * hashed on the calling thread, and frames in flight when the worker fails are hashed there too.
 */
export class FrameHasher implements Service {
  readonly name = 'frame-hasher';
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failures = 0;
  private stopped = false;

  constructor(private readonly log: Logger) {}

  /** The worker starts with the first frame; nothing to do here. */
  async start(): Promise<void> {
    this.stopped = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const worker = this.worker;
    this.worker = undefined;
    this.settleOnThisThread();
    await worker?.terminate();
  }

  readonly hash: HashFrame = (data) => {
    const worker = this.running();
    if (!worker) return sha256Now(data);
    // a view into a larger ArrayBuffer would be cloned whole: hand over only its own bytes
    const own =
      data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : new Uint8Array(data);
    const id = this.nextId++;
    return new Promise<string>((resolve) => {
      this.pending.set(id, { data: own, resolve });
      worker.postMessage({ id, data: own });
    });
  };

  private running(): Worker | undefined {
    if (this.worker || this.stopped || this.failures >= MAX_WORKER_FAILURES) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'frame-hasher' });
    worker.unref(); // never what keeps the process alive
    worker.on('message', ({ id, sha256 }: { id: number; sha256: string }) => {
      this.pending.get(id)?.resolve(sha256);
      this.pending.delete(id);
    });
    worker.on('error', (err) => this.failed(worker, err));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.failed(worker, new Error(`frame hasher exited with code ${code}`));
    });
    this.worker = worker;
    return worker;
  }

  private failed(worker: Worker, err: unknown): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.failures += 1;
    const last = this.failures >= MAX_WORKER_FAILURES;
    this.log.warn(
      { err, failures: this.failures },
      last
        ? 'frame hasher failed again: frames are hashed on the event loop from now on'
        : 'frame hasher failed: frames in flight are hashed on the event loop; it starts again with the next',
    );
    this.settleOnThisThread();
    void worker.terminate();
  }

  private settleOnThisThread(): void {
    for (const p of this.pending.values()) p.resolve(sha256Hex(p.data));
    this.pending.clear();
  }
}
