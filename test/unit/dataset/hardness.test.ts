import t from 'tap';
import { hardReasons } from '../../../agent/dataset/index.js';
import type { Decision } from '../../../agent/decision/index.js';
import { draft } from '../../helpers/fixtures.js';

const policy = { marginBelow: 0.2, entropyAbove: 0.8, anomalyWithin: 0.05 };
const decision = (over: Partial<Decision>): Decision =>
  ({ ...draft(), schema: 1, id: 'd', seq: 1, agentId: 'a', historical: false, ...over }) as Decision;
const cls = (scores: Record<string, number>, verdict: Decision['verdict'] = 'OK') =>
  decision({ verdict, result: { task: 'classification', scores } });

t.test('a sure verdict is not hard', async (t) => {
  t.same(hardReasons(cls({ ok: 0.97, scratch: 0.02, dent: 0.01 }), policy), { reasons: [], score: 0 });
});

t.test(
  'close calls, spread scores, UNCERTAIN verdicts and anomaly scores near the threshold are',
  async (t) => {
    t.match(hardReasons(cls({ ok: 0.5, scratch: 0.4, dent: 0.1 }), policy), { reasons: ['small-margin'] });
    t.match(hardReasons(cls({ ok: 0.36, scratch: 0.33, dent: 0.31 }), policy), {
      reasons: ['small-margin', 'high-entropy'],
    });
    t.match(hardReasons(cls({ ok: 0.6, scratch: 0.3, dent: 0.1 }, 'UNCERTAIN'), policy), {
      reasons: ['uncertain'],
    });
    const anomaly = (score: number) =>
      decision({ verdict: 'OK', result: { task: 'anomaly', score, threshold: 0.5 } });
    t.match(hardReasons(anomaly(0.48), policy), { reasons: ['near-threshold'] });
    t.same(hardReasons(anomaly(0.2), policy).reasons, []);
  },
);

t.test('a deadline fallback has no model output to learn from', async (t) => {
  t.same(hardReasons(decision({ verdict: 'UNCERTAIN', degraded: true, result: null }), policy).reasons, []);
});
