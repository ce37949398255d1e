import t from 'tap';
import { parseConfigText } from '../../../agent/config/index.js';
import { judge } from '../../../agent/decision/index.js';
import type { TaskResult } from '../../../agent/inference/index.js';

type Det = { label: string; score: number; box: [number, number, number, number] };
const detections = (...ds: Det[]): TaskResult => ({ task: 'detection', detections: ds });
const labels = ['scratch', 'dent', 'label-sticker'];
const base = { minScore: 0.5, uncertainBelow: 0.2 };

const dent: Det = { label: 'dent', score: 0.91, box: [100, 80, 300, 240] };
const smallScratch: Det = { label: 'scratch', score: 0.8, box: [10, 10, 15, 14] }; // 20 px²
const sticker: Det = { label: 'label-sticker', score: 0.99, box: [400, 300, 500, 400] };
const faintDent: Det = { label: 'dent', score: 0.3, box: [600, 400, 640, 440] };

t.test('detection: an NG-class box at or above minScore is NG, with a readable reason', async (t) => {
  const { outcome } = judge(detections(dent), base, labels);
  t.same(outcome, { verdict: 'NG', reason: 'dent 0.91 at [100, 80, 300, 240]' });
  t.equal(judge(detections(), base, labels).outcome.verdict, 'OK');
  t.equal(judge(detections(), base, labels).outcome.reason, 'no detections');
});

t.test('detection: NG classes default to every label but "ok"; ngClasses narrows them', async (t) => {
  t.equal(judge(detections(sticker), base, labels).outcome.verdict, 'NG', 'all labels count by default');
  const only = { ...base, ngClasses: ['scratch', 'dent'] };
  const out = judge(detections(sticker), only, labels).outcome;
  t.equal(out.verdict, 'OK');
  t.match(out.reason, /1 detection ignored/);
});

t.test('detection: a weaker NG-class box in the band is UNCERTAIN', async (t) => {
  const out = judge(detections(faintDent), base, labels).outcome;
  t.equal(out.verdict, 'UNCERTAIN');
  t.match(out.reason, /dent 0\.30 at \[600, 400, 640, 440\]; below 0\.5, at or above 0\.2/);
  t.equal(judge(detections(faintDent), { ...base, uncertainBelow: 0.5 }, labels).outcome.verdict, 'OK');
});

t.test('detection: boxes under minBoxArea (source px²) are ignored', async (t) => {
  t.equal(judge(detections(smallScratch), base, labels).outcome.verdict, 'NG');
  t.equal(judge(detections(smallScratch), { ...base, minBoxArea: 21 }, labels).outcome.verdict, 'OK');
  t.equal(
    judge(detections(smallScratch), { ...base, minBoxArea: 20 }, labels).outcome.verdict,
    'NG',
    'inclusive',
  );
});

t.test('detection: only boxes centred inside the ROI count', async (t) => {
  const roi: [number, number, number, number] = [0, 0, 320, 240];
  // dent centre (200, 160): inside; sticker centre (450, 350): outside
  const out = judge(detections(sticker, dent), { ...base, roi }, labels).outcome;
  t.same(out, { verdict: 'NG', reason: 'dent 0.91 at [100, 80, 300, 240]' });
  // a box straddling the edge counts by its centre only
  const straddle: Det = { label: 'dent', score: 0.9, box: [300, 200, 400, 300] }; // centre (350, 250)
  t.equal(judge(detections(straddle), { ...base, roi }, labels).outcome.verdict, 'OK');
});

t.test('detection: many NG boxes are listed best first, three at most', async (t) => {
  const many = [0.6, 0.95, 0.7, 0.8].map(
    (score, i): Det => ({ label: 'dent', score, box: [i, i, i + 10, i + 10] }),
  );
  t.equal(
    judge(detections(...many), base, labels).outcome.reason,
    'dent 0.95 at [1, 1, 11, 11]; dent 0.80 at [3, 3, 13, 13]; dent 0.70 at [2, 2, 12, 12] (+1 more)',
  );
});

const anomaly = (score: number): TaskResult => ({ task: 'anomaly', score, threshold: 0.5 });

t.test("anomaly: NG at or above the manifest's threshold", async (t) => {
  t.same(judge(anomaly(0.5), base, []).outcome, {
    verdict: 'NG',
    reason: 'anomaly score 0.50 >= threshold 0.5',
  });
  t.same(judge(anomaly(0.49), base, []).outcome, {
    verdict: 'OK',
    reason: 'anomaly score 0.49 < threshold 0.5',
  });
  t.equal(judge(anomaly(0.3), base, []).outcome.verdict, 'OK', 'no UNCERTAIN band unless configured');
});

t.test('anomaly: the camera can override the threshold and add an UNCERTAIN band', async (t) => {
  const rules = { ...base, anomalyThreshold: 0.7, anomalyUncertainBelow: 0.4 };
  const ng = judge(anomaly(0.75), rules, []);
  t.equal(ng.outcome.verdict, 'NG');
  t.same(
    ng.result,
    { task: 'anomaly', score: 0.75, threshold: 0.7 },
    'the result carries the threshold applied',
  );
  t.equal(judge(anomaly(0.6), rules, []).outcome.verdict, 'UNCERTAIN');
  t.equal(judge(anomaly(0.39), rules, []).outcome.verdict, 'OK');
});

t.test('classification still judged as before through judge()', async (t) => {
  const out = judge({ task: 'classification', scores: { ok: 0.1, scratch: 0.85, dent: 0.05 } }, base, [
    'ok',
    'scratch',
    'dent',
  ]);
  t.equal(out.outcome.verdict, 'NG');
});

t.test('config: detection/anomaly rule keys are validated with the rest', async (t) => {
  const cfg = (rules: string) => `agent: { id: cell-1 }
models: [{ id: det, path: models/det/model.onnx }]
cameras: [{ id: cam-1, source: { type: synthetic }, trigger: { type: continuous }, model: det, rules: ${rules} }]
`;
  const ok = parseConfigText(
    cfg('{ minBoxArea: 400, roi: [10, 20, 600, 400], anomalyThreshold: 0.6 }'),
    'a.yaml',
    {},
  );
  t.same(ok.cameras[0]?.rules.roi, [10, 20, 600, 400]);
  t.equal(ok.cameras[0]?.rules.minBoxArea, 400);
  t.throws(
    () => parseConfigText(cfg('{ roi: [600, 20, 10, 400] }'), 'a.yaml', {}),
    { code: 'EVA_ERR_CONFIG_INVALID', message: /roi must be \[x1, y1, x2, y2\]/ },
    'x2 < x1',
  );
  t.throws(() => parseConfigText(cfg('{ anomalyThreshold: 1.5 }'), 'a.yaml', {}), {
    code: 'EVA_ERR_CONFIG_INVALID',
  });
});
