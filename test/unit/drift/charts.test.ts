import t from 'tap';
import {
  chartDesign,
  cusumArl,
  cusumInterval,
  ewmaArl,
  freshChart,
  stepChart,
  westernElectric,
} from '../../../agent/drift/charts.js';

t.test('EWMA run lengths match Lucas & Saccucci (1990), lambda 0.2', async (t) => {
  // in-control ARL 558 at L = 3.0, 370 at L = 2.86; 10.3 at a one-sigma shift with L = 2.86... (table: 10.2-10.4)
  t.ok(Math.abs(ewmaArl(3, 0) / 558 - 1) < 0.01, `L=3: ${ewmaArl(3, 0)}`);
  t.ok(Math.abs(ewmaArl(2.86, 0) / 370 - 1) < 0.01, `L=2.86: ${ewmaArl(2.86, 0)}`);
  t.ok(Math.abs(ewmaArl(2.86, 1) - 10.3) < 0.5, `shift 1: ${ewmaArl(2.86, 1)}`);
});

t.test('CUSUM run lengths follow Siegmund, within a few per cent of exact tables', async (t) => {
  // exact one-sided ARL0 for k = 0.5: h = 4 -> 336, h = 5 -> 930
  t.ok(Math.abs(cusumArl(4) / 336 - 1) < 0.03, `h=4: ${cusumArl(4)}`);
  t.ok(Math.abs(cusumArl(5) / 930 - 1) < 0.03, `h=5: ${cusumArl(5)}`);
  t.ok(Math.abs(cusumArl(cusumInterval(1e6)) / 1e6 - 1) < 1e-6, 'interval inverts the run length');
});

t.test('a chart designed for a bias holds its run length under that bias', async (t) => {
  const design = chartDesign(1e5, 0.4);
  t.equal(design.k, 0.9, 'CUSUM reference value moves with the bias');
  // the EWMA limit is wider than the unbiased one
  t.ok(design.ewmaLimit > chartDesign(1e5, 0).ewmaLimit);
  // a sustained shift of 3 standard errors is caught within a few windows
  const state = freshChart();
  let caught = -1;
  for (let i = 0; i < 20 && caught < 0; i++) {
    const step = stepChart(state, 3, design);
    if (step.cusum.breach || step.ewma.breach) caught = i;
  }
  t.ok(caught >= 0 && caught < 8, `caught after ${caught + 1} windows`);
});

t.test('Western Electric rules', async (t) => {
  t.same(westernElectric([0.1, 3.2]), ['1 beyond 3 sigma']);
  t.same(westernElectric([2.1, 0.5, 2.4]), ['2 of 3 beyond 2 sigma']);
  t.same(westernElectric([1.2, 1.5, 0.2, 1.1, 1.3]), ['4 of 5 beyond 1 sigma']);
  t.same(westernElectric([0.2, 0.3, 0.1, 0.4, 0.2, 0.3, 0.5, 0.1]), ['8 in a row on one side']);
  t.same(westernElectric([0.2, -0.3, 0.1, 0.4, -0.2, 0.3, 0.5, 0.1]), []);
  t.same(westernElectric([-2.5, -2.2, -3.4]), ['1 beyond 3 sigma', '2 of 3 beyond 2 sigma']);
});
