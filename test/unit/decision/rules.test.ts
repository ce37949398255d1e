import t from 'tap';
import { judgeClassification, resolveNgClasses } from '../../../agent/decision/index.js';

const rules = { minScore: 0.5, uncertainBelow: 0.2 };
const ng = ['scratch', 'dent'];

t.test('ng score bands: OK below uncertainBelow, NG from minScore, UNCERTAIN between', async (t) => {
  t.equal(judgeClassification({ ok: 0.97, scratch: 0.02, dent: 0.01 }, rules, ng).verdict, 'OK');
  t.equal(judgeClassification({ ok: 0.1, scratch: 0.85, dent: 0.05 }, rules, ng).verdict, 'NG');
  t.equal(judgeClassification({ ok: 0.7, scratch: 0.2, dent: 0.1 }, rules, ng).verdict, 'UNCERTAIN');
  t.equal(
    judgeClassification({ ok: 0.5, scratch: 0.5, dent: 0 }, rules, ng).verdict,
    'NG',
    'minScore is inclusive',
  );
});

t.test('the NG score sums the defect classes', async (t) => {
  // no single defect reaches 0.5, but the part is more likely defective than not
  const out = judgeClassification({ ok: 0.4, scratch: 0.3, dent: 0.3 }, rules, ng);
  t.equal(out.verdict, 'NG');
  t.match(out.reason, /ng score 0\.60 >= 0\.5/);
});

t.test('reasons say why', async (t) => {
  t.equal(
    judgeClassification({ ok: 0.97, scratch: 0.02, dent: 0.01 }, rules, ng).reason,
    'top class ok 0.97',
  );
  t.match(judgeClassification({ ok: 0.1, scratch: 0.85, dent: 0.05 }, rules, ng).reason, /^scratch 0\.85/);
});

t.test('default NG classes are every label but ok', async (t) => {
  t.same(resolveNgClasses(rules, ['ok', 'scratch', 'dent']), ['scratch', 'dent']);
  t.same(resolveNgClasses({ ...rules, ngClasses: ['dent'] }, ['ok', 'scratch', 'dent']), ['dent']);
});
