/**
 * One onnxruntime session in its own thread: `session.run` blocks the thread that calls it for the whole
 * inference, so it must never run on the main thread where MQTT, HTTP and capture live.
 */
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { FromWorker, ProviderAttempt, ToWorker, WireTensor } from './protocol.js';

if (!parentPort) throw new Error('session-worker must run in a worker thread');
const port = parentPort;
let session: ort.InferenceSession | undefined;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function load(modelPath: string, providers: string[], intraOpThreads: number): Promise<void> {
  const attempts: ProviderAttempt[] = [];
  for (const provider of providers) {
    try {
      session = await ort.InferenceSession.create(modelPath, {
        executionProviders: [provider],
        graphOptimizationLevel: 'all',
        ...(intraOpThreads > 0 ? { intraOpNumThreads: intraOpThreads } : {}),
      });
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
      attempts.push({ provider, error: err instanceof Error ? err.message : String(err) });
    }
  }
  send({ type: 'load-failed', attempts });
}

async function run(id: number, feeds: Record<string, WireTensor>): Promise<void> {
  if (!session) {
    send({ type: 'run-failed', id, error: 'no session loaded' });
    return;
  }
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      inputs[name] = new ort.Tensor(t.type as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
    }
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
    send({ type: 'result', id, outputs, inferenceMs }, transfer);
  } catch (err) {
    send({ type: 'run-failed', id, error: err instanceof Error ? err.message : String(err) });
  }
}

port.on('message', (message: ToWorker) => {
  const work =
    message.type === 'load'
      ? load(message.modelPath, message.providers, message.intraOpThreads)
      : run(message.id, message.feeds);
  work.catch((err: unknown) => {
    // load() and run() report their own failures; this is a last resort so the thread never dies silently
    console.error('session-worker:', err);
  });
});
