/**
 * The pool's decode thread: frames arrive as bytes from the main thread, are decoded and resized by sharp
 * (on libuv's pool) and turned into tensors here, and go to their session worker over its own channel.
 * It never blocks (no session.run here), so a frame handed over while every session worker is inferring
 * starts decoding at once: both cores busy with one camera. The main thread only routes bytes.
 */
import { performance } from 'node:perf_hooks';
import { type MessagePort, parentPort } from 'node:worker_threads';
import type { Frame } from '../capture/index.js';
import { describeError, ErrorCodes } from '../errors.js';
import { type ImageStats, imageStatsOf } from './image-stats.js';
import type { InputSpec } from './manifest-schema.js';
import { preprocess } from './preprocess.js';
import type { FrameReady, ToDecoder, WireFrame } from './protocol.js';

if (!parentPort) throw new Error('decode-worker must run in a worker thread');
const port = parentPort;
const slots = new Map<number, MessagePort>();
let input: InputSpec | undefined;
let stats = false;
let inFlight = 0;
let closing = false;
let received = 0;
let exitOnFrame: number | undefined;

function toFrame(wire: WireFrame): Frame {
  const data = Buffer.from(wire.data.buffer, wire.data.byteOffset, wire.data.byteLength);
  return wire.kind === 'raw'
    ? { kind: 'raw', data, width: wire.width, height: wire.height, channels: wire.channels, capturedAt: 0 }
    : { kind: 'encoded', data, capturedAt: 0 };
}

async function decode(id: number, slot: number, wire: WireFrame): Promise<void> {
  const started = performance.now();
  let message: FrameReady;
  const transfer: ArrayBuffer[] = [];
  try {
    if (!input) throw new Error('decode worker not initialised');
    const pre = await preprocess(toFrame(wire), input);
    let imageStats: ImageStats | undefined;
    try {
      imageStats = stats ? imageStatsOf(pre.tensor.data, input, pre.region) : undefined;
    } catch (err) {
      // a failure costs the statistics, never the verdict
      console.warn(`decode-worker: image statistics failed: ${String(err)}`);
    }
    message = {
      type: 'ready',
      id,
      tensor: pre.tensor,
      geometry: pre.geometry,
      sourceWidth: pre.sourceWidth,
      sourceHeight: pre.sourceHeight,
      imageStats,
      preprocessMs: performance.now() - started,
    };
    transfer.push(pre.tensor.data.buffer as ArrayBuffer);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    message = {
      type: 'failed',
      id,
      code: typeof code === 'string' ? code : ErrorCodes.FRAME_DECODE,
      error: describeError(err),
    };
  }
  // a session worker replaced meanwhile has a new channel under the same slot: its old jobs were failed
  slots.get(slot)?.postMessage(message, transfer);
}

function maybeExit(): void {
  // no sharp call in flight: ending the thread now cannot pull libvips out from under one
  if (closing && inFlight === 0) process.exit(0);
}

port.on('message', (message: ToDecoder) => {
  switch (message.type) {
    case 'init':
      input = message.input;
      stats = message.stats;
      exitOnFrame = message.exitOnFrame;
      break;
    case 'attach': {
      const { slot, port: channel } = message;
      slots.set(slot, channel);
      // the session worker ended (replaced, or the pool closed): its frames have nobody to go to
      channel.once('close', () => {
        if (slots.get(slot) === channel) slots.delete(slot);
      });
      break;
    }
    case 'decode':
      if (++received === exitOnFrame) process.exit(1); // test-only fault (WorkerFaults.exitDecoderOnFrame)
      inFlight++;
      void decode(message.id, message.slot, message.frame).finally(() => {
        inFlight--;
        maybeExit();
      });
      break;
    case 'close':
      closing = true;
      maybeExit();
      break;
  }
});
