import { describeError, ErrorCodes } from '../errors.js';
import { splitOutputs, stackTensors } from './batch.js';
import type { Decoded } from './decode.js';
import type { ImageStats, Region } from './image-stats.js';
import type { FrameReady, FromWorker, WireTensor } from './protocol.js';
import type { Geometry } from './resize-plan.js';

/** A session.run's outputs, valid until `release` (onnxruntime's buffers, read in place). */
export interface SessionOutputs {
  outputs: Record<string, WireTensor>;
  release: () => void;
}

export interface LineDeps {
  /** One session.run; throws when the session (the provider) fails. */
  run: (feeds: Record<string, WireTensor>) => Promise<SessionOutputs>;
  /** Outputs of one frame -> the task's result (decode.ts); throws on outputs it cannot read. */
  decode: (outputs: Record<string, WireTensor>, geometry: Geometry) => Decoded;
  /** A tensor job's image statistics from its input, or undefined (none wanted, or they failed). */
  stats: (tensor: WireTensor, region: Region | undefined) => ImageStats | undefined;
  send: (message: FromWorker, transfer?: ArrayBuffer[]) => void;
  now: () => number;
  /** Calls `fn` after `ms`; returns what cancels it. */
  setTimer: (fn: () => void, ms: number) => () => void;
  inputName: string;
  /** At most this many frames in one session.run (1: no batching) ... */
  maxBatch: number;
  /** ... and a ready frame waits at most this long for others to join it (0: never waits). */
  batchWaitMs: number;
}

interface Entry {
  id: number;
  ready: boolean;
  cancelled: boolean;
  readyAt: number;
  /** a frame job, once the decode worker handed it over */
  frame?: Extract<FrameReady, { type: 'ready' }>;
  /** a tensor job */
  tensor?: { feeds: Record<string, WireTensor>; region: Region | undefined };
}

/**
 * The jobs one session worker holds, in the order the pool handed them over. A frame is decoded by the
 * pool's decode worker meanwhile (what overlaps with the session.run of the frame before) and arrives here
 * ready (`frameReady`); frames run in order, one session.run at a time: the ready frames at the head of the
 * line together, up to `maxBatch`, after waiting at most `batchWaitMs` for company. The pool bounds how
 * many jobs a worker holds. A cancelled job is dropped unless its session.run has begun; a frame still
 * decoding is dropped once its decode is over, so a job is never forgotten while sharp still works on it.
 */
export class WorkerLine {
  private readonly entries: Entry[] = [];
  private running = false;
  private cancelTimer: (() => void) | undefined;
  private maxBatch: number;
  private idleWaiters: (() => void)[] = [];
  /** frames the decoder handed over before the pool's word about them came (two channels, no order) */
  private readonly early = new Map<number, FrameReady>();

  constructor(private readonly deps: LineDeps) {
    this.maxBatch = Math.max(1, deps.maxBatch);
  }

  /** No job held: nothing decoding (no sharp call in flight), waiting or running. */
  get idle(): boolean {
    return this.entries.length === 0 && !this.running;
  }

  /** Resolves once the line holds no job (the worker may then end: no sharp call is in flight). */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Runs one frame at a time from now on (the model's outputs did not split per frame). */
  noBatching(): void {
    this.maxBatch = 1;
  }

  /** The pool handed this worker a frame; it arrives from the decode worker. */
  addFrame(id: number): void {
    this.entries.push({ id, ready: false, cancelled: false, readyAt: 0 });
    const early = this.early.get(id);
    if (early) {
      this.early.delete(id);
      this.frameReady(early);
    }
  }

  /** A frame from the decode worker: preprocessed, or why it could not be. */
  frameReady(message: FrameReady): void {
    const entry = this.entries.find((e) => e.id === message.id && !e.ready);
    if (!entry) {
      this.early.set(message.id, message);
      return;
    }
    if (entry.cancelled || message.type === 'failed') {
      this.remove(entry);
      if (entry.cancelled) this.deps.send({ type: 'cancelled', id: entry.id });
      else if (message.type === 'failed') {
        this.deps.send({ type: 'job-failed', id: entry.id, code: message.code, error: message.error });
      }
    } else {
      entry.frame = message;
      entry.ready = true;
      entry.readyAt = this.deps.now();
    }
    this.pump();
  }

  /** The decode worker died: the frames it had not handed over never will be. */
  decoderLost(reason: string): void {
    this.early.clear();
    for (const entry of this.entries.filter((e) => !e.ready)) {
      this.remove(entry);
      const message = `frame lost: ${reason}`;
      this.deps.send({ type: 'job-failed', id: entry.id, code: ErrorCodes.WORKER_DIED, error: message });
    }
    this.pump();
  }

  addTensor(id: number, feeds: Record<string, WireTensor>, region: Region | undefined): void {
    this.entries.push({
      id,
      ready: true,
      cancelled: false,
      readyAt: this.deps.now(),
      tensor: { feeds, region },
    });
    this.pump();
  }

  cancel(id: number): void {
    const entry = this.entries.find((e) => e.id === id);
    if (!entry) return; // running or done: its answer is on its way
    entry.cancelled = true;
    if (entry.ready) {
      this.remove(entry);
      this.deps.send({ type: 'cancelled', id });
      this.pump();
    }
  }

  private remove(entry: Entry): void {
    const i = this.entries.indexOf(entry);
    if (i >= 0) this.entries.splice(i, 1);
  }

  private pump(): void {
    if (this.running) return;
    if (this.idle) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    const head = this.entries[0];
    if (!head?.ready) return;
    let batch: Entry[] = [head];
    if (head.frame) {
      batch = [];
      for (const e of this.entries) {
        if (!e.ready || !e.frame || batch.length === this.maxBatch) break;
        batch.push(e);
      }
      const due = head.readyAt + this.deps.batchWaitMs;
      if (batch.length < this.maxBatch && this.deps.now() < due) {
        this.cancelTimer ??= this.deps.setTimer(() => {
          this.cancelTimer = undefined;
          this.pump();
        }, due - this.deps.now());
        return;
      }
    }
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.entries.splice(0, batch.length);
    this.running = true;
    const work = head.frame ? this.runFrames(batch) : this.runTensor(head);
    void work.finally(() => {
      this.running = false;
      this.pump();
    });
  }

  private async runTensor(entry: Entry): Promise<void> {
    const { feeds, region } = entry.tensor as NonNullable<Entry['tensor']>;
    const input = feeds[this.deps.inputName] ?? Object.values(feeds)[0];
    const imageStats = input ? this.deps.stats(input, region) : undefined;
    let session: SessionOutputs;
    let inferenceMs: number;
    try {
      const started = this.deps.now();
      session = await this.deps.run(feeds);
      inferenceMs = this.deps.now() - started;
    } catch (err) {
      this.deps.send({ type: 'run-failed', id: entry.id, error: describeError(err) });
      return;
    }
    const outputs: Record<string, WireTensor> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, t] of Object.entries(session.outputs)) {
      // a copy we own, so its buffer can be transferred (onnxruntime's may be native memory)
      const data = t.data.slice() as WireTensor['data'];
      outputs[name] = { data, dims: [...t.dims], type: t.type };
      transfer.push(data.buffer as ArrayBuffer);
    }
    session.release();
    this.deps.send({ type: 'result', id: entry.id, outputs, inferenceMs, imageStats }, transfer);
  }

  private async runFrames(batch: Entry[]): Promise<void> {
    const tensor = stackTensors(batch.map((e) => (e.frame as NonNullable<Entry['frame']>).tensor));
    let session: SessionOutputs;
    let inferenceMs: number;
    try {
      const started = this.deps.now();
      session = await this.deps.run({ [this.deps.inputName]: tensor });
      inferenceMs = this.deps.now() - started;
    } catch (err) {
      for (const e of batch) this.deps.send({ type: 'run-failed', id: e.id, error: describeError(err) });
      return;
    }
    try {
      const perFrame = batch.length === 1 ? [session.outputs] : splitOutputs(session.outputs, batch.length);
      if (!perFrame) {
        // the graph said its batch dimension was free, but an output did not follow it: one at a time
        this.noBatching();
        for (const e of batch) await this.runFrames([e]);
        return;
      }
      batch.forEach((e, i) => {
        this.judge(e, perFrame[i] as Record<string, WireTensor>, inferenceMs, batch.length);
      });
    } finally {
      session.release();
    }
  }

  private judge(entry: Entry, outputs: Record<string, WireTensor>, inferenceMs: number, n: number): void {
    const frame = entry.frame as NonNullable<Entry['frame']>;
    let decoded: Decoded;
    try {
      decoded = this.deps.decode(outputs, frame.geometry);
    } catch (err) {
      this.deps.send({ type: 'job-failed', id: entry.id, code: codeOf(err), error: describeError(err) });
      return;
    }
    // the map is a view into onnxruntime's output: a copy of its own travels to the main thread
    const map = decoded.maps?.anomaly;
    const anomaly = map ? { ...map, data: map.data.slice() } : undefined;
    this.deps.send(
      {
        type: 'judged',
        id: entry.id,
        result: decoded.result,
        ...(anomaly ? { maps: { anomaly } } : {}),
        imageStats: frame.imageStats,
        sourceWidth: frame.sourceWidth,
        sourceHeight: frame.sourceHeight,
        preprocessMs: frame.preprocessMs,
        inferenceMs,
        batch: n,
      },
      anomaly ? [anomaly.data.buffer as ArrayBuffer] : [],
    );
  }
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('EVA_ERR_') ? code : ErrorCodes.INFERENCE_FAILED;
}
