/**
 * One onnxruntime session in its own thread: `session.run` blocks the thread that calls it for the whole
 * inference, so it must never run on the main thread where MQTT, HTTP and capture live.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { sha256Of } from '../read-limited.js';
import { type ImageStats, imageStatsOf } from './image-stats.js';
import type {
  FromWorker,
  LoadRequest,
  ProviderAttempt,
  RunRequest,
  ToWorker,
  WireTensor,
} from './protocol.js';
import { sessionOptions } from './session-options.js';

if (!parentPort) throw new Error('session-worker must run in a worker thread');
const port = parentPort;
let session: ort.InferenceSession | undefined;
let sessionProvider = '';
let runs = 0;
let faults: LoadRequest['faults'];
let statsSpec: LoadRequest['stats'];

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

/**
 * TensorRT builds its engine at session creation (minutes for a big model). With a cache file, the first
 * load dumps an EP-context model (`ep.context_*` session keys: the only TensorRT knobs onnxruntime-node lets
 * through, see docs/gpu.md) and every later load opens that dump instead of rebuilding the engine.
 */
async function create(req: LoadRequest, provider: string): Promise<ort.InferenceSession> {
  const ep = faults?.emulate?.includes(provider) ? 'cpu' : provider;
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
    extra: { 'ep.context_enable': '1', 'ep.context_file_path': cache, 'ep.context_embed_mode': '0' },
  });
}

async function load(req: LoadRequest): Promise<void> {
  faults = req.faults;
  statsSpec = req.stats;
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

/**
 * The frame's image statistics from the input tensor, here beside the session rather than on the main
 * thread. A failure costs the statistics, never the verdict.
 */
function statsOf(req: RunRequest): ImageStats | undefined {
  const tensor = statsSpec && req.feeds[statsSpec.feed];
  if (!statsSpec || !tensor || tensor.type === 'int32' || tensor.type === 'int64') return undefined;
  try {
    return imageStatsOf(tensor.data as Float32Array | Uint8Array | Uint16Array, statsSpec.input, req.region);
  } catch (err) {
    console.warn(`session-worker: image statistics failed: ${String(err)}`);
    return undefined;
  }
}

async function run(req: RunRequest): Promise<void> {
  const { id, feeds } = req;
  if (!session) {
    send({ type: 'run-failed', id, error: 'no session loaded' });
    return;
  }
  try {
    const fail = faults?.failRuns;
    if (fail && fail.provider === sessionProvider && runs >= fail.afterRuns) {
      throw new Error(`injected fault: ${sessionProvider} provider failed at run time`);
    }
    runs++;
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      inputs[name] = new ort.Tensor(t.type as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
    }
    const imageStats = statsOf(req);
    const started = performance.now();
    const results = await session.run(inputs);
    const inferenceMs = performance.now() - started;
    const outputs: Record<string, WireTensor> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, tensor] of Object.entries(results)) {
      // a copy we own, so its buffer can be transferred (onnxruntime's may be native memory)
      const data = (tensor.data as WireTensor['data']).slice();
      outputs[name] = { data, dims: [...tensor.dims], type: tensor.type };
      transfer.push(data.buffer as ArrayBuffer);
      tensor.dispose();
    }
    send({ type: 'result', id, outputs, inferenceMs, imageStats }, transfer);
  } catch (err) {
    send({ type: 'run-failed', id, error: err instanceof Error ? err.message : String(err) });
  }
}

port.on('message', (message: ToWorker) => {
  const work = message.type === 'load' ? load(message) : run(message);
  work.catch((err: unknown) => {
    // load() and run() report their own failures; this is a last resort so the thread never dies silently
    console.error('session-worker:', err);
  });
});
