import t from 'tap';
import { EventBus } from '../../../agent/events.js';
import {
  HISTORY_STEP_MS,
  HISTORY_WINDOW_MS,
  type HistoryPoint,
  StatusHistory,
} from '../../../agent/health/index.js';
import { quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';

function point(t: number, n: number): HistoryPoint {
  return {
    t,
    agent: {
      backlog: n,
      cpuPercent: 10,
      memoryUsedBytes: 1e9,
      processRssBytes: 2e8,
      diskUsedBytes: 5e6,
      temperatureC: null,
    },
    cameras: { 'cam-1': { fps: 2, latencyP50Ms: 30, latencyP99Ms: 60, decisions: 20, ng: n % 3 } },
  };
}

t.test(
  'the first point is taken at start; one per step after; 20 minutes kept; each told on the bus',
  async (t) => {
    const clock = new ManualClock();
    const events = new EventBus(quietLog);
    const told: HistoryPoint[] = [];
    events.on('StatusSampled', ({ point }) => told.push(point), 'test');
    const sinces: (number | null)[] = [];
    let n = 0;
    const history = new StatusHistory({
      clock,
      events,
      log: quietLog,
      sample: (since) => {
        sinces.push(since);
        return point(clock.now(), n++);
      },
    });
    await history.start();
    t.teardown(() => history.stop());
    let h = history.snapshot();
    t.equal(h.t.length, 1, 'a point right at start: the charts are never empty');
    t.same(h.agent.backlog, [0]);
    t.same(h.cameras['cam-1']?.ng, [0]);
    t.equal(h.stepMs, HISTORY_STEP_MS);
    t.equal(h.windowS, HISTORY_WINDOW_MS / 1000);

    await clock.advance(HISTORY_STEP_MS * 3);
    h = history.snapshot();
    t.equal(h.t.length, 4);
    t.same(sinces.slice(0, 2), [null, h.t[0]], 'each sample is told when the previous one was taken');
    t.equal(told.length, 4, 'each point is told on the bus');

    await clock.advance(HISTORY_WINDOW_MS);
    h = history.snapshot();
    t.equal(h.t.length, HISTORY_WINDOW_MS / HISTORY_STEP_MS, 'no more than the window');
    t.equal(h.t.at(-1), clock.now());
    t.equal((h.t.at(-1) as number) - (h.t[0] as number), HISTORY_WINDOW_MS - HISTORY_STEP_MS);
    t.equal(h.agent.cpuPercent.length, h.t.length, 'every series as long as the time axis');
  },
);

t.test('a sample that fails leaves its step out, and sampling goes on', async (t) => {
  const clock = new ManualClock();
  let fail = true;
  const history = new StatusHistory({
    clock,
    events: new EventBus(quietLog),
    log: quietLog,
    sample: () => {
      if (fail) throw new Error('store closed');
      return point(clock.now(), 1);
    },
  });
  await history.start();
  t.equal(history.snapshot().t.length, 0);
  fail = false;
  await clock.advance(HISTORY_STEP_MS);
  t.equal(history.snapshot().t.length, 1);
  await history.stop();
  t.equal(clock.pendingTimers, 0, 'stop clears its timer');
});
