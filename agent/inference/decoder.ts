import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Clock } from '../service.js';
import type { InputSpec } from './manifest-schema.js';
import type { ToDecoder, WireFrame } from './protocol.js';
import { retireWorker, startWorker } from './spawn-worker.js';

/** How long the decode worker may take to finish its decodes and end itself before it is terminated. */
const RETIRE_MS = 5_000;

/**
 * The main thread's side of a pool's decode worker (decode-worker.ts): frames go to it as bytes, and it
 * hands them, preprocessed, to their session worker over a channel per worker. A decode worker that dies
 * is replaced; `onReplaced` gets the new channel of each session worker (the frames the old one held are
 * lost, and their session workers fail them).
 */
export class Decoder {
  private worker: Worker | undefined;
  private closing = false;

  constructor(
    private readonly init: { input: InputSpec; stats: boolean },
    private readonly log: Logger,
    private readonly clock: Clock,
    /** every session worker's slot: a replacement decode worker gets a channel to each */
    private readonly slots: () => number[],
    private readonly onReplaced: (slot: number, port: MessagePort) => void,
  ) {}

  start(): void {
    const worker = startWorker('decode-worker');
    this.worker = worker;
    worker.on('error', (err) => this.log.error({ err }, 'decode worker crashed'));
    worker.on('exit', (code) => {
      if (this.closing || this.worker !== worker) return;
      this.log.error({ code }, 'decode worker exited; replacing it');
      this.start();
      for (const slot of this.slots()) this.onReplaced(slot, this.channel(slot));
    });
    this.post({ type: 'init', ...this.init });
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

  /** Ends the decode worker once its decodes are done (bounded). */
  async close(): Promise<void> {
    this.closing = true;
    if (this.worker) await retireWorker(this.worker, RETIRE_MS, this.clock);
    this.worker = undefined;
  }

  private post(message: ToDecoder, transfer: (ArrayBuffer | MessagePort)[] = []): void {
    this.worker?.postMessage(message, transfer);
  }
}
