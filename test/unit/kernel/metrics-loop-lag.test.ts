import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { AgentMetrics } from '../../../agent/metrics.js';

/** The value of a gauge without labels, in seconds, from one scrape of the registry. */
async function scrape(metrics: AgentMetrics): Promise<Record<string, number>> {
  const text = await metrics.registry.metrics();
  const values: Record<string, number> = {};
  for (const m of text.matchAll(/^(eva_event_loop_lag_(?:p99|max)_seconds) (\S+)$/gm)) {
    values[m[1] as string] = Number(m[2]);
  }
  return values;
}

function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a synchronous stretch, as a model run on the main thread would be
  }
}

t.test('event-loop lag: a blocked loop shows in max and p99, an idle one does not', async (t) => {
  const metrics = new AgentMetrics();
  await scrape(metrics); // starts a window
  await sleep(300);
  const idle = await scrape(metrics);
  t.ok(Number.isFinite(idle.eva_event_loop_lag_p99_seconds), 'p99 exported');
  t.ok(
    (idle.eva_event_loop_lag_p99_seconds ?? 1) < 0.02,
    `an idle loop is not reported late (${idle.eva_event_loop_lag_p99_seconds} s; the timer period is taken off)`,
  );

  // 40 ms blocked in every ~50 ms: far more than 1 % of the samples are late
  for (let i = 0; i < 8; i++) {
    block(40);
    await sleep(10);
  }
  const busy = await scrape(metrics);
  t.ok((busy.eva_event_loop_lag_max_seconds ?? 0) >= 0.03, `max ${busy.eva_event_loop_lag_max_seconds} s`);
  t.ok((busy.eva_event_loop_lag_p99_seconds ?? 0) >= 0.02, `p99 ${busy.eva_event_loop_lag_p99_seconds} s`);

  // the scrape above closed that window: the next one starts clean
  await sleep(200);
  const after = await scrape(metrics);
  t.ok(
    (after.eva_event_loop_lag_max_seconds ?? 1) < 0.03,
    `a new window after each scrape (${after.eva_event_loop_lag_max_seconds} s)`,
  );
});

t.test('metrics without the process defaults (tests) have no loop gauges', async (t) => {
  const text = await new AgentMetrics(false).registry.metrics();
  t.notMatch(text, /eva_event_loop_lag/);
});
