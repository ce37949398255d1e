/**
 * One onnxruntime session in its own thread: `session.run` blocks the thread that calls it for the whole
 * inference, so it must never run on the main thread where MQTT, HTTP and capture live. Frames arrive
 * preprocessed from the pool's decode worker (decode-worker.ts), are run here, alone or batched
 * (WorkerLine), and decoded into the task's result, so the main thread only routes bytes and results.
 * No sharp here: a session worker can be terminated at any time without pulling libvips from under a call.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type MessagePort, parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { describeError } from '../errors.js';
import { sha256Of } from '../read-limited.js';
import { splitOutputs } from './batch.js';
import { decodeOutputs } from './decode.js';
import { imageStatsOf } from './image-stats.js';
import type {
  FrameReady,
  FromWorker,
  LoadRequest,
  ProviderAttempt,
  ToWorker,
  WireTensor,
} from './protocol.js';
import { planResize } from './resize-plan.js';
import { NO_SPIN, sessionOptions } from './session-options.js';
import { toTensor } from './tensor.js';
import { type SessionOutputs, WorkerLine } from './worker-line.js';

if (!parentPort) throw new Error('session-worker must run in a worker thread');
const port = parentPort;
let session: ort.InferenceSession | undefined;
let sessionProvider = '';
let runs = 0;
let request: LoadRequest | undefined;
let line: WorkerLine | undefined;
let decoder: MessagePort | undefined;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

/**
 * TensorRT builds its engine at session creation (minutes for a big model). With a cache file, the first
 * load dumps an EP-context model (`ep.context_*` session keys: the only TensorRT knobs onnxruntime-node lets
 * through, see docs/gpu.md) and every later load opens that dump instead of rebuilding the engine.
 */
async function create(req: LoadRequest, provider: string): Promise<ort.InferenceSession> {
  const ep = req.faults?.emulate?.includes(provider) ? 'cpu' : provider;
  const base = sessionOptions(ep, req.intraOpThreads);
  const cache = provider === 'tensorrt' ? req.engineCacheFile : undefined;
  if (!cache) return ort.InferenceSession.create(req.modelPath, base);
  if (existsSync(cache)) {
    try {
      return await ort.InferenceSession.create(cache, base);
    } catch (err) {
      // a dump from another TensorRT/driver version: rebuild below (and overwrite it)
      console.warn(`session-worker: engine cache ${cache} unusable, rebuilding: ${String(err)}`);
    }
  }
  mkdirSync(dirname(cache), { recursive: true });
  return ort.InferenceSession.create(req.modelPath, {
    ...base,
    extra: {
      ...NO_SPIN,
      'ep.context_enable': '1',
      'ep.context_file_path': cache,
      'ep.context_embed_mode': '0',
    },
  });
}

async function load(req: LoadRequest): Promise<void> {
  request = req;
  const attempts: ProviderAttempt[] = [];
  if (req.expectSha256) {
    const found = await sha256Of(req.modelPath).catch((err: unknown) => `unreadable: ${String(err)}`);
    if (found !== req.expectSha256) {
      const error = `model file ${req.modelPath} changed on disk since it was verified (sha256 ${found.slice(0, 12)}…, expected ${req.expectSha256.slice(0, 12)}…): not loaded`;
      send({
        type: 'load-failed',
        attempts: [{ provider: req.providers[0] ?? 'cpu', stage: 'load', error }],
      });
      return;
    }
  }
  for (const provider of req.providers) {
    try {
      session = await create(req, provider);
      sessionProvider = provider;
      runs = 0;
      attempts.push({ provider });
      line = newLine(req);
      if (req.decoder) listen(req.decoder);
      send({
        type: 'loaded',
        provider,
        attempts,
        inputNames: [...session.inputNames],
        outputNames: [...session.outputNames],
      });
      return;
    } catch (err) {
      attempts.push({ provider, stage: 'load', error: err instanceof Error ? err.message : String(err) });
    }
  }
  send({ type: 'load-failed', attempts });
}

function newLine(req: LoadRequest): WorkerLine {
  const manifest = req.manifest;
  return new WorkerLine({
    run: runSession,
    decode: (outputs, geometry) => {
      if (!manifest) throw new Error('frames need the model manifest (pool loaded without one)');
      return decodeOutputs(outputs, manifest, geometry);
    },
    stats: (tensor, region) => {
      const spec = req.stats;
      if (!spec || tensor.type === 'int32' || tensor.type === 'int64') return undefined;
      try {
        return imageStatsOf(tensor.data as Float32Array | Uint8Array | Uint16Array, spec.input, region);
      } catch (err) {
        // a failure costs the statistics, never the verdict
        console.warn(`session-worker: image statistics failed: ${String(err)}`);
        return undefined;
      }
    },
    send,
    now: () => performance.now(),
    setTimer: (fn, ms) => {
      const timer = setTimeout(fn, ms);
      return () => clearTimeout(timer);
    },
    inputName: manifest?.input.name ?? req.stats?.feed ?? session?.inputNames[0] ?? 'input',
    maxBatch: manifest?.batch?.max ?? 1,
    batchWaitMs: manifest?.batch?.waitMs ?? 0,
  });
}

async function runSession(feeds: Record<string, WireTensor>): Promise<SessionOutputs> {
  if (!session) throw new Error('no session loaded');
  const fail = request?.faults?.failRuns;
  if (fail && fail.provider === sessionProvider && runs >= fail.afterRuns) {
    throw new Error(`injected fault: ${sessionProvider} provider failed at run time`);
  }
  runs++;
  const inputs: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    inputs[name] = new ort.Tensor(t.type as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
  }
  const results = await session.run(inputs);
  const outputs: Record<string, WireTensor> = {};
  for (const [name, tensor] of Object.entries(results)) {
    outputs[name] = { data: tensor.data as WireTensor['data'], dims: tensor.dims, type: tensor.type };
  }
  return {
    outputs,
    release: () => {
      for (const tensor of Object.values(results)) tensor.dispose();
    },
  };
}

/**
 * A blank input through the session: the first run allocates and optimises, so doing it at load keeps it
 * out of the first deadline. Its outputs are decoded too, which checks the real output shapes against the
 * task (free dimensions included). With batching, the largest batch is run as well, and if the outputs
 * do not split per frame, this worker runs frames one by one.
 */
async function warm(): Promise<void> {
  const manifest = request?.manifest;
  if (!manifest || !line) {
    send({ type: 'warmed', batch: 1, error: 'no model manifest to warm up with' });
    return;
  }
  const { input } = manifest;
  const blank = toTensor(new Uint8Array(input.width * input.height * 3), input);
  let session: SessionOutputs;
  try {
    session = await runSession({ [input.name]: blank });
  } catch (err) {
    send({ type: 'warmed', batch: 1, error: describeError(err), providerFault: true });
    return;
  }
  try {
    decodeOutputs(session.outputs, manifest, planResize(input.width, input.height, input).geometry);
  } catch (err) {
    send({ type: 'warmed', batch: 1, error: describeError(err) });
    return;
  } finally {
    session.release();
  }
  const max = manifest.batch?.max ?? 1;
  if (max === 1) {
    send({ type: 'warmed', batch: 1 });
    return;
  }
  const stacked = new (blank.data.constructor as new (n: number) => typeof blank.data)(
    blank.data.length * max,
  );
  try {
    const batched = await runSession({
      [input.name]: { ...blank, data: stacked, dims: [max, ...blank.dims.slice(1)] },
    });
    const splits = splitOutputs(batched.outputs, max) !== undefined;
    batched.release();
    if (!splits) line.noBatching();
    send({ type: 'warmed', batch: splits ? max : 1 });
  } catch (err) {
    send({ type: 'warmed', batch: 1, error: describeError(err), providerFault: true });
  }
}

/** Frames come preprocessed from the decode worker over `port`; a new port means a new decode worker. */
function listen(port: MessagePort): void {
  if (decoder) {
    decoder.close();
    line?.decoderLost('the decode worker died');
  }
  decoder = port;
  port.on('message', (message: FrameReady) => line?.frameReady(message));
}

async function close(): Promise<void> {
  await line?.whenIdle();
  decoder?.close();
  await session?.release().catch(() => undefined);
  process.exit(0);
}

port.on('message', (message: ToWorker) => {
  let work: Promise<void> | undefined;
  switch (message.type) {
    case 'load':
      work = load(message);
      break;
    case 'warm':
      work = warm();
      break;
    case 'close':
      work = close();
      break;
    case 'frame':
      if (line) line.addFrame(message.id);
      else send({ type: 'run-failed', id: message.id, error: 'no session loaded' });
      break;
    case 'decoder':
      listen(message.port);
      break;
    case 'run':
      if (line) line.addTensor(message.id, message.feeds, message.region);
      else send({ type: 'run-failed', id: message.id, error: 'no session loaded' });
      break;
    case 'cancel':
      line?.cancel(message.id);
      break;
  }
  work?.catch((err: unknown) => {
    // each step reports its own failures; this is a last resort so the thread never dies silently
    console.error('session-worker:', err);
  });
});
