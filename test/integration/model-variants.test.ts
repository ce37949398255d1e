import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Frame } from '../../agent/capture/index.js';
import { ModelRunner } from '../../agent/inference/index.js';
import { REPO } from '../helpers/agent-process.js';
import { quietLog, sampleLabels } from '../helpers/fixtures.js';

const samples = join(REPO, 'samples/washer');
const labels = sampleLabels();

async function topLabel(r: ModelRunner, file: string): Promise<string | undefined> {
  const frame: Frame = { kind: 'encoded', data: readFileSync(join(samples, file)), capturedAt: Date.now() };
  const { result } = await r.infer(frame);
  if (result.task !== 'classification') throw new Error('classification expected');
  return Object.entries(result.scores).sort((a, b) => b[1] - a[1])[0]?.[0];
}

// The shipped int8 and fp16 variants load through their own manifests (sha256 and golden images checked on
// start) and agree with the fp32 model on every demo frame.
for (const variant of ['washer-int8', 'washer-fp16']) {
  t.test(`${variant} passes its golden images and agrees with fp32 on the demo frames`, async (t) => {
    const start = async (id: string) => {
      const path = join(REPO, 'models', id, 'model.onnx');
      const r = new ModelRunner({ id, path, providers: ['cpu'], workers: 1, intraOpThreads: 1 }, quietLog);
      t.teardown(() => r.stop());
      await r.start();
      const s = r.snapshot();
      t.equal(s.state, 'ready', s.error ?? `${id} ready`);
      return r;
    };
    const fp32 = await start('washer');
    const other = await start(variant);
    let agree = 0;
    for (const [file] of labels) if ((await topLabel(fp32, file)) === (await topLabel(other, file))) agree++;
    t.equal(agree, labels.length, `${agree}/${labels.length} frames get fp32's label`);
  });
}
