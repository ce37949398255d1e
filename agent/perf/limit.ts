import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { Frame } from '../capture/index.js';
import { type ModelManifest, preprocess, sessionOptions, type Tensor } from '../inference/index.js';
import { round, type Spread, spread } from './stats.js';

/**
 * The limit: what this machine does with the model and frames when nothing else is in the way. Each stage
 * alone in a tight loop (the agent's own `preprocess` on the frames; `session.run` with the agent's session
 * options on the main thread), then both stages overlapped (decoding through libuv's pool while inference
 * runs in a thread of its own), which is the most a pipeline gets out of these cores.
 */
export interface LimitFigures {
  decodeMs: Spread;
  inferMs: Spread;
  /** one frame at a time, no overhead: 1000 / (decode mean + infer mean) */
  serialFps: number;
  /** the slower stage's rate, each stage measured alone: 1000 / max(decode mean, infer mean) */
  stageFps: number;
  /** both stages at once, overlapped, with nothing else in the way (runPipelined, measured in turns) */
  pipelined: { fps: number };
  intraOpThreads: number;
}

export interface LimitOptions {
  /** passes over the frames for the decode loop (the first, untimed, loads the codecs) */
  decodePasses: number;
  /** seconds of `session.run` in the tight loop */
  seconds: number;
  intraOpThreads: number;
}

/** Distinct inputs cycled through by the inference loop (a 640x640 float tensor is 4.9 MB). */
const FEEDS = 4;

export function encodedFrame(data: Buffer, name?: string): Frame {
  return { kind: 'encoded', data, capturedAt: Date.now(), ...(name ? { name } : {}) };
}

export async function measureDecode(
  frames: readonly Buffer[],
  manifest: ModelManifest,
  passes: number,
): Promise<{ ms: Spread; tensors: Tensor[] }> {
  // the untimed first pass loads the codecs; a few of its tensors feed the inference loops
  const tensors: Tensor[] = [];
  for (const data of frames) {
    const { tensor } = await preprocess(encodedFrame(data), manifest.input);
    if (tensors.length < FEEDS) tensors.push(tensor);
  }
  const times: number[] = [];
  for (let pass = 0; pass < passes; pass++) {
    for (const data of frames) {
      const frame = encodedFrame(data);
      const t0 = performance.now();
      await preprocess(frame, manifest.input);
      times.push(performance.now() - t0);
    }
  }
  return { ms: spread(times), tensors };
}

function feedsOf(manifest: ModelManifest, tensor: Tensor): Record<string, ort.Tensor> {
  return { [manifest.input.name]: new ort.Tensor(tensor.type, tensor.data, tensor.dims) };
}

export async function measureInfer(
  modelPath: string,
  manifest: ModelManifest,
  tensors: readonly Tensor[],
  opts: Pick<LimitOptions, 'seconds' | 'intraOpThreads'>,
): Promise<Spread> {
  const session = await ort.InferenceSession.create(modelPath, sessionOptions('cpu', opts.intraOpThreads));
  try {
    const feeds = tensors.map((t) => feedsOf(manifest, t));
    for (let i = 0; i < 3; i++) await session.run(feeds[i % feeds.length] as Record<string, ort.Tensor>);
    const times: number[] = [];
    const until = performance.now() + opts.seconds * 1000;
    for (let i = 0; times.length < 10 || performance.now() < until; i++) {
      const t0 = performance.now();
      await session.run(feeds[i % feeds.length] as Record<string, ort.Tensor>);
      times.push(performance.now() - t0);
    }
    return spread(times);
  } finally {
    await session.release();
  }
}

/**
 * The inference half of the pipelined run: a thread with its own session (plain JavaScript, so it runs the
 * same from source and from dist/) that runs each tensor it is sent and says when it is done.
 */
const INFER_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
(async () => {
  const { modelPath, options, input, type, dims } = workerData;
  const session = await ort.InferenceSession.create(modelPath, options);
  parentPort.on('message', async (data) => {
    await session.run({ [input]: new ort.Tensor(type, data, dims) });
    parentPort.postMessage('done');
  });
  parentPort.postMessage('ready');
})().catch((err) => parentPort.postMessage('failed: ' + String(err && err.stack || err)));
`;

/** Frames decoding at once, and decoded frames waiting for or in inference, in the pipelined run. */
const DECODES_IN_FLIGHT = 2;
const TENSORS_IN_FLIGHT = 2;

/**
 * Both stages at once with nothing else in the way: frames decode on libuv's pool (the agent's `preprocess`,
 * two at a time) while the previous ones run in an inference thread (the agent's session options), a few
 * frames in flight. What the two stages give together on these cores: the ceiling of any pipeline. Runs
 * until `signal` aborts, calling `onFrame` for each frame through both stages.
 */
export async function runPipelined(
  modelPath: string,
  manifest: ModelManifest,
  frames: readonly Buffer[],
  opts: { intraOpThreads: number; onFrame: () => void; signal: AbortSignal },
): Promise<void> {
  const first = (await preprocess(encodedFrame(frames[0] as Buffer), manifest.input)).tensor;
  const worker = new Worker(INFER_THREAD, {
    eval: true,
    workerData: {
      ortPath: createRequire(import.meta.url).resolve('onnxruntime-node'),
      modelPath,
      options: sessionOptions('cpu', opts.intraOpThreads),
      input: manifest.input.name,
      type: first.type,
      dims: first.dims,
    },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let decoding = 0;
      let inferring = 0;
      let next = 0;
      const ready: Tensor[] = [];
      const pump = () => {
        while (ready.length > 0 && inferring < 1) {
          const t = ready.shift() as Tensor;
          inferring++;
          worker.postMessage(t.data, [t.data.buffer as ArrayBuffer]);
        }
        while (
          !opts.signal.aborted &&
          decoding < DECODES_IN_FLIGHT &&
          decoding + ready.length + inferring < DECODES_IN_FLIGHT + TENSORS_IN_FLIGHT
        ) {
          decoding++;
          const data = frames[next++ % frames.length] as Buffer;
          preprocess(encodedFrame(data), manifest.input).then((p) => {
            decoding--;
            ready.push(p.tensor);
            pump();
          }, reject);
        }
      };
      opts.signal.addEventListener('abort', () => resolve(), { once: true });
      worker.on('error', reject);
      worker.on('message', (msg: string) => {
        if (msg === 'ready') return pump();
        if (msg.startsWith('failed')) return reject(new Error(`inference thread ${msg}`));
        inferring--;
        opts.onFrame();
        pump();
      });
    });
  } finally {
    await worker.terminate();
  }
}

/** The stages alone, in this process, one after the other (the pipelined rate is measured in turns). */
export async function measureStages(
  modelPath: string,
  manifest: ModelManifest,
  frames: readonly Buffer[],
  opts: LimitOptions,
): Promise<Omit<LimitFigures, 'pipelined'>> {
  const decode = await measureDecode(frames, manifest, opts.decodePasses);
  const inferMs = await measureInfer(modelPath, manifest, decode.tensors, opts);
  return {
    decodeMs: decode.ms,
    inferMs,
    serialFps: round(1000 / (decode.ms.mean + inferMs.mean), 1),
    stageFps: round(1000 / Math.max(decode.ms.mean, inferMs.mean), 1),
    intraOpThreads: opts.intraOpThreads,
  };
}
