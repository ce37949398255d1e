import { copyFileSync, cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { AlertInput } from '../../../agent/alerts.js';
import { MODEL_FILE_CHECK_MS } from '../../../agent/config/index.js';
import { ModelDeployment } from '../../../agent/models/index.js';
import { REPO, tempDir } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { sampleFrame, washerConfig } from '../../helpers/model-versions.js';
import { waitFor } from '../../helpers/net.js';

// The washer model copied to a folder of its own, so the test can replace its file under the running agent.
function washerCopy(): { dir: string; model: string } {
  const dir = join(tempDir('eva-watched-'), 'washer');
  cpSync(join(REPO, 'models/washer'), dir, { recursive: true });
  return { dir, model: join(dir, 'model.onnx') };
}

const INT8 = join(REPO, 'models/washer-int8/model.onnx');

async function deployment(t: Test, over: Parameters<typeof washerConfig>[0], clock = new ManualClock()) {
  const alerts: AlertInput[] = [];
  const d = new ModelDeployment(washerConfig(over), {
    log: quietLog,
    clock,
    versionsDir: tempDir('eva-versions-'),
    alerts: { raise: (a) => alerts.push(a) },
    faults: () => ({ emulate: ['cuda'], failRuns: { provider: 'cuda', afterRuns: 8 } }),
  });
  t.teardown(() => d.stop());
  await d.start();
  return { d, alerts, clock };
}

t.test(
  'a model file replaced under the running version: an alert and a problem, the session runs on',
  async (t) => {
    const { model } = washerCopy();
    const original = readFileSync(model);
    const { d, alerts, clock } = await deployment(t, { path: model });
    t.equal(d.state, 'ready');
    const sha = d.snapshot().sha256;
    await clock.advance(MODEL_FILE_CHECK_MS);
    await waitFor(() => d.snapshot().file.checkedAt !== null, 5_000, 'the first check');
    t.equal(d.snapshot().file.changed, null, 'the file is the running one');

    copyFileSync(INT8, model); // someone copies another model over the file
    await clock.advance(MODEL_FILE_CHECK_MS);
    await waitFor(() => d.snapshot().file.changed, 5_000, 'the change noticed');
    t.match(
      d.snapshot().file.changed,
      /^model file .*washer\/model\.onnx changed on disk \(sha256 [0-9a-f]{12}…, running [0-9a-f]{12}…\): the running version is unchanged/,
    );
    t.match(alerts.at(-1), {
      code: 'MODEL_FILE_CHANGED',
      severity: 'warning',
      modelId: 'washer',
      active: true,
    });
    const inference = await d.infer(sampleFrame(1));
    t.equal(inference.model.sha256, sha, 'frames are still judged by the version that was loaded');

    copyFileSync(join(REPO, 'models/washer/model.onnx'), model);
    t.ok(readFileSync(model).equals(original));
    await clock.advance(MODEL_FILE_CHECK_MS);
    await waitFor(() => d.snapshot().file.changed === null, 5_000, 'cleared when the file is back');
    t.match(alerts.at(-1), { code: 'MODEL_FILE_CHANGED', active: false });
    t.equal(alerts.filter((a) => a.code === 'MODEL_FILE_CHANGED').length, 2, 'one raise, one clear');
  },
);

t.test('a worker loaded after the file changed refuses it instead of running another model', async (t) => {
  const { model } = washerCopy();
  // cuda is emulated: warm-up, 6 golden images and the first line frame run on it, the second frame fails,
  // and the runner falls back to cpu with fresh workers, which load the model file again
  const { d } = await deployment(t, { path: model, providers: ['cuda', 'cpu'] });
  t.equal(d.snapshot().provider, 'cuda');
  await d.infer(sampleFrame(1));
  copyFileSync(INT8, model);
  await d.infer(sampleFrame(2)).catch(() => undefined);
  await waitFor(() => d.state !== 'ready' || d.snapshot().provider === 'cpu', 30_000, 'the fallback');
  t.equal(d.state, 'failed', 'not a silent swap to the file now on disk');
  t.match(
    d.snapshot().error,
    /changed on disk since it was verified \(sha256 [0-9a-f]{12}…, expected [0-9a-f]{12}…\): not loaded/,
  );
});
