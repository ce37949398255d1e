import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Frame } from '../../agent/capture/index.js';
import { judge } from '../../agent/decision/index.js';
import { ModelRunner } from '../../agent/inference/index.js';
import { REPO } from '../helpers/agent-process.js';
import { quietLog } from '../helpers/fixtures.js';

// The detector and the anomaly model we ship, run the way the agent runs them: manifest + sha256 + ONNX
// metadata, warm-up and every golden image at start (a golden failure leaves the model `failed`), then the
// camera rules turn each task's result into a verdict.

const rules = { minScore: 0.5, uncertainBelow: 0.2 };

async function start(t: Test, id: string): Promise<ModelRunner> {
  const path = join(REPO, 'models', id, 'model.onnx');
  const r = new ModelRunner({ id, path, providers: ['cpu'], workers: 1, intraOpThreads: 1 }, quietLog);
  t.teardown(() => r.stop());
  await r.start();
  const s = r.snapshot();
  t.equal(s.state, 'ready', s.error ?? `${id} loaded and passed its golden images`);
  return r;
}

function golden(id: string, file: string): Frame {
  const data = readFileSync(join(REPO, 'models', id, 'golden', file));
  return { kind: 'encoded', data, capturedAt: Date.now() };
}

t.test('washer-det: golden images pass at start; a dent is NG at its place, a clean washer OK', async (t) => {
  const r = await start(t, 'washer-det');
  const dent = await r.infer(golden('washer-det', 'dent-1.jpg'));
  if (dent.result.task !== 'detection') throw new Error('detection expected');
  const [best] = dent.result.detections;
  t.equal(best?.label, 'dent');
  // the manifest's expected box, in source pixels (the letterbox is undone)
  const [x1, y1, x2, y2] = best?.box ?? [0, 0, 0, 0];
  t.ok(Math.abs(x1 - 413) < 15 && Math.abs(y1 - 133.3) < 15, `box at [${x1}, ${y1}, ${x2}, ${y2}]`);
  t.ok(x2 <= dent.sourceWidth && y2 <= dent.sourceHeight, 'inside the frame');
  t.equal(judge(dent.result, rules, r.labels).outcome.verdict, 'NG');

  const ok = await r.infer(golden('washer-det', 'ok-1.jpg'));
  if (ok.result.task !== 'detection') throw new Error('detection expected');
  t.same(ok.result.detections, []);
  t.equal(judge(ok.result, rules, r.labels).outcome.verdict, 'OK');
});

t.test('washer-anomaly: trained on OK parts only, scores a scratch above its threshold', async (t) => {
  const r = await start(t, 'washer-anomaly');
  const scratch = await r.infer(golden('washer-anomaly', 'scratch-1.jpg'));
  if (scratch.result.task !== 'anomaly') throw new Error('anomaly expected');
  t.ok(scratch.result.score >= scratch.result.threshold, `score ${scratch.result.score}`);
  t.equal(judge(scratch.result, rules, r.labels).outcome.verdict, 'NG');
  const map = scratch.maps?.anomaly;
  t.ok(map && map.width * map.height === map.data.length && map.width > 0, 'the anomaly map comes along');

  const ok = await r.infer(golden('washer-anomaly', 'ok-1.jpg'));
  if (ok.result.task !== 'anomaly') throw new Error('anomaly expected');
  t.ok(ok.result.score < ok.result.threshold, `score ${ok.result.score}`);
  t.equal(judge(ok.result, rules, r.labels).outcome.verdict, 'OK');
});
