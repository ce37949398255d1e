import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Clock } from '../service.js';
import type { InputSpec } from './manifest-schema.js';
import type { ToDecoder, WireFrame } from './protocol.js';
import { retireWorker, startWorker } from './spawn-worker.js';

/** How long the decode worker may take to finish its decodes and end itself before it is terminated. */
const RETIRE_MS = 5_000;
/** A decode worker that dies sooner than this after it started is replaced only after this long again. */
const RESPAWN_MS = 1_000;

interface Pending {
  message: ToDecoder;
  transfer: (ArrayBuffer | MessagePort)[];
}

/**
 * The main thread's side of a pool's decode worker (decode-worker.ts): frames go to it as bytes, and it
 * hands them, preprocessed, to their session worker over a channel per worker. A decode worker that dies
 * is replaced: at once each session worker gets a channel to the replacement (and fails the frames the
 * dead one held); frames sent meanwhile wait here until the replacement runs.
 */
export class Decoder {
  private worker: Worker | undefined;
  private backlog: Pending[] = [];
  private closing = false;
  private starts = 0;

  constructor(
    private readonly init: { input: InputSpec; stats: boolean; exitOnFrame?: number | undefined },
    private readonly log: Logger,
    private readonly clock: Clock,
    /** every session worker's slot: each gets a channel to a replacement decode worker */
    private readonly slots: () => number[],
    private readonly onReplaced: (slot: number, port: MessagePort) => void,
  ) {}

  start(): void {
    const worker = startWorker('decode-worker');
    const startedAt = this.clock.now();
    this.worker = worker;
    worker.on('error', (err) => this.log.error({ err }, 'decode worker crashed'));
    worker.on('exit', (code) => {
      if (this.closing || this.worker !== worker) return;
      this.log.error({ code }, 'decode worker exited; replacing it');
      this.worker = undefined;
      for (const slot of this.slots()) this.onReplaced(slot, this.channel(slot));
      // one that cannot even start must not be restarted in a tight loop
      const early = this.clock.now() - startedAt < RESPAWN_MS;
      this.clock.setTimeout(
        () => {
          if (!this.closing) this.start();
        },
        early ? RESPAWN_MS : 0,
      );
    });
    // test-only fault: the first decode worker only
    const { exitOnFrame, ...init } = this.init;
    const message: ToDecoder = {
      type: 'init',
      ...init,
      ...(this.starts++ === 0 && exitOnFrame ? { exitOnFrame } : {}),
    };
    worker.postMessage(message);
    for (const { message: m, transfer } of this.backlog.splice(0)) worker.postMessage(m, transfer);
  }

  /** A channel between the decode worker and session worker `slot`: the returned end goes to the latter. */
  channel(slot: number): MessagePort {
    const { port1, port2 } = new MessageChannel();
    this.post({ type: 'attach', slot, port: port1 }, [port1]);
    return port2;
  }

  /** Decodes a frame for session worker `slot`; the bytes are transferred (the caller made them a copy). */
  decode(id: number, slot: number, frame: WireFrame): void {
    this.post({ type: 'decode', id, slot, frame }, [frame.data.buffer as ArrayBuffer]);
  }

  /**
   * Ends the decode worker once its decodes are done; waits RETIRE_MS at most, after which a worker still
   * inside a decode (a frame libvips takes that long over) is left to end by itself, never terminated.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.backlog = [];
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    await retireWorker(worker, RETIRE_MS, this.clock, false);
    if (worker.threadId !== -1)
      this.log.warn('decode worker still decoding after its pool closed; it ends by itself');
  }

  private post(message: ToDecoder, transfer: (ArrayBuffer | MessagePort)[] = []): void {
    if (this.worker) this.worker.postMessage(message, transfer);
    else this.backlog.push({ message, transfer });
  }
}
