import t from 'tap';
import type { Decision } from '../../../agent/decision/index.js';
import { EventBus } from '../../../agent/events.js';
import { LineStats } from '../../../agent/health/index.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';

let seq = 0;
function decided(clock: ManualClock, over: Partial<Decision> & { latency?: number } = {}): Decision {
  const { latency = 20, ...rest } = over;
  seq += 1;
  return {
    ...draft(),
    schema: 1,
    id: `d-${seq}`,
    seq,
    agentId: 'cell-1',
    historical: false,
    triggeredAt: clock.now() - latency,
    decidedAt: clock.now(),
    ...rest,
  };
}

function setup(seed?: ConstructorParameters<typeof LineStats>[0]['seed']) {
  const clock = new ManualClock();
  const events = new EventBus(quietLog);
  const stats = new LineStats({
    clock,
    events,
    log: quietLog,
    deadlines: new Map([
      ['cam-1', 250],
      ['cam-2', 100],
    ]),
    ...(seed ? { seed } : {}),
  });
  return { clock, events, stats };
}

t.test(
  'counts by verdict over the last hour, the NG rate and the last verdict, from DecisionStored',
  async (t) => {
    const { clock, events, stats } = setup();
    await stats.start();
    t.teardown(() => stats.stop());
    t.same(stats.snapshot('cam-1')?.counts, { OK: 0, NG: 0, UNCERTAIN: 0, ERROR: 0 }, 'empty at start');
    t.equal(stats.snapshot('cam-1')?.ngRate, null, 'no rate without decisions');
    t.equal(stats.snapshot('cam-9'), undefined, 'an unknown camera has no entry');

    for (const verdict of ['OK', 'OK', 'NG', 'UNCERTAIN'] as const) {
      events.emit('DecisionStored', { decision: decided(clock, { verdict }) });
    }
    events.emit('DecisionStored', { decision: decided(clock, { verdict: 'NG', cameraId: 'cam-2' }) });
    const one = stats.snapshot('cam-1');
    t.same(one?.counts, { OK: 2, NG: 1, UNCERTAIN: 1, ERROR: 0 });
    t.equal(one?.ngRate, 0.25);
    t.match(one?.lastVerdict, { verdict: 'UNCERTAIN', seq: 4 });
    t.same(stats.snapshot('cam-2')?.counts, { OK: 0, NG: 1, UNCERTAIN: 0, ERROR: 0 }, 'per camera');

    // an hour later, those minutes have left the window; the totals since start stay
    await clock.advance(61 * 60_000);
    t.same(stats.snapshot('cam-1')?.counts, { OK: 0, NG: 0, UNCERTAIN: 0, ERROR: 0 });
    t.same(stats.snapshot('cam-1')?.totals, { OK: 2, NG: 1, UNCERTAIN: 1, ERROR: 0 });
    t.match(stats.snapshot('cam-1')?.lastVerdict, { seq: 4 }, 'the last verdict stays');
  },
);

t.test('latency percentiles and deadline misses (recent window) per camera', async (t) => {
  const { clock, events, stats } = setup();
  await stats.start();
  t.teardown(() => stats.stop());
  for (let i = 1; i <= 100; i++) events.emit('DecisionStored', { decision: decided(clock, { latency: i }) });
  const a = stats.snapshot('cam-1');
  t.same(a?.latencyMs, { p50: 50, p99: 99, samples: 100 }, 'nearest-rank p50 and p99 of trigger to verdict');
  t.same(a?.recent, { windowS: 300, decided: 100, missed: 0 });
  // a fallback verdict (degraded, no model) at the deadline, and a model verdict past it, are misses
  events.emit('DecisionStored', {
    decision: decided(clock, { verdict: 'UNCERTAIN', degraded: true, model: null, latency: 250 }),
  });
  events.emit('DecisionStored', { decision: decided(clock, { latency: 300 }) });
  t.match(stats.snapshot('cam-1')?.recent, { decided: 102, missed: 2 });
  t.equal(stats.snapshot('cam-1')?.deadlineMs, 250);
  await clock.advance(6 * 60_000);
  t.match(stats.snapshot('cam-1')?.recent, { decided: 0, missed: 0 }, 'misses leave the window after 5 min');
  t.same(stats.latencySince('cam-1', clock.now()), { p50: null, p99: null, samples: 0 });
});

t.test(
  'a restart reads the last hour from the store: counts and the last verdict are not empty',
  async (t) => {
    const base = new ManualClock().now();
    const minute = Math.floor(base / 60_000);
    const last = {
      ...draft(),
      schema: 1,
      id: 'old',
      seq: 41,
      agentId: 'cell-1',
      historical: false,
    } as Decision;
    const { stats } = setup((since) => {
      t.equal(since, base - 3_600_000, 'asks for one hour');
      return {
        counts: [
          { cameraId: 'cam-1', verdict: 'OK', minute, n: 30 },
          { cameraId: 'cam-1', verdict: 'NG', minute: minute - 10, n: 10 },
          { cameraId: 'gone', verdict: 'NG', minute, n: 5 },
        ],
        last: [last],
      };
    });
    await stats.start();
    t.teardown(() => stats.stop());
    t.same(stats.snapshot('cam-1')?.counts, { OK: 30, NG: 10, UNCERTAIN: 0, ERROR: 0 });
    t.equal(stats.snapshot('cam-1')?.ngRate, 0.25);
    t.match(stats.snapshot('cam-1')?.lastVerdict, { id: 'old', seq: 41 });
  },
);

t.test('a store that cannot be read at start costs the counts, not the start', async (t) => {
  const { stats, events, clock } = setup(() => {
    throw new Error('database is locked');
  });
  await stats.start();
  t.teardown(() => stats.stop());
  events.emit('DecisionStored', { decision: decided(clock) });
  t.match(stats.snapshot('cam-1')?.counts, { OK: 1 });
});

t.test('stop removes its listener', async (t) => {
  const { stats, events } = setup();
  await stats.start();
  t.equal(events.listenerCount('line-stats'), 1);
  await stats.stop();
  t.equal(events.listenerCount('line-stats'), 0);
});
