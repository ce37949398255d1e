import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import t from 'tap';
import { ModelRunner } from '../../../agent/inference/index.js';
import { tempDir, WASHER_MODEL } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';
import { sampleFrame } from '../../helpers/model-versions.js';

/**
 * The GPU path: the washer model on the CUDA provider (and TensorRT with its engine cache when its
 * provider file is there). It needs an NVIDIA GPU and onnxruntime-node's GPU provider files (docs/gpu.md);
 * CI machines have neither, so this is the one test that skips under CI=true too: a CPU-only runner cannot
 * make it pass, and the CPU side of every provider decision is covered by providers.test.ts.
 */
const require = createRequire(import.meta.url);
const bin = join(dirname(require.resolve('onnxruntime-node')), '../../bin/napi-v6/linux/x64');
const cudaLib = join(bin, 'libonnxruntime_providers_cuda.so');
const trtLib = join(bin, 'libonnxruntime_providers_tensorrt.so');

function missing(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v nvidia-smi && nvidia-smi -L'], { encoding: 'utf8' }).status !== 0) {
    return 'no NVIDIA GPU (nvidia-smi -L fails)';
  }
  if (!existsSync(cudaLib)) {
    return `onnxruntime-node's CUDA provider is not installed (${cudaLib} missing; see docs/gpu.md)`;
  }
  return undefined;
}

const reason = missing();
if (reason) {
  process.stderr.write(`\n*** SKIPPED: GPU path test: ${reason}\n`);
  t.plan(0, `SKIPPED: GPU path test: ${reason}`);
} else {
  t.test('the washer model runs on CUDA and passes its golden images there', async (t) => {
    const r = new ModelRunner(
      { id: 'washer', path: WASHER_MODEL, providers: ['cuda', 'cpu'], workers: 1, intraOpThreads: 0 },
      quietLog,
    );
    t.teardown(() => r.stop());
    await r.start();
    const s = r.snapshot();
    t.equal(s.state, 'ready', s.error ?? '');
    t.equal(s.provider, 'cuda', JSON.stringify(s.providerAttempts));
    t.equal((await r.infer(sampleFrame(1))).model.provider, 'cuda');
  });

  t.test(
    'TensorRT builds its engine once and reuses the EP-context dump',
    { skip: !existsSync(trtLib) && 'no TensorRT provider file' },
    async (t) => {
      const cache = tempDir('eva-trt-');
      for (const round of [1, 2]) {
        const r = new ModelRunner(
          {
            id: 'washer',
            path: WASHER_MODEL,
            providers: ['tensorrt', 'cuda', 'cpu'],
            workers: 1,
            intraOpThreads: 0,
            engineCacheDir: cache,
          },
          quietLog,
        );
        await r.start();
        const s = r.snapshot();
        await r.stop();
        t.equal(s.provider, 'tensorrt', `round ${round}: ${JSON.stringify(s.providerAttempts)}`);
      }
      t.ok(
        readdirSync(cache).some((f) => f.endsWith('trt_ctx.onnx')),
        'EP-context model dumped',
      );
    },
  );
}
