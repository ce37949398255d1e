import t from 'tap';
import { systemClock, waitUntil } from '../../agent/service.js';
import { ManualClock } from '../helpers/manual-clock.js';

t.test('ManualClock: a periodic timer fires once per period as time passes, until cleared', async (t) => {
  const clock = new ManualClock(0);
  const calls: number[] = [];
  const handle = clock.setInterval(() => calls.push(clock.now()), 100);
  await clock.advance(99);
  t.same(calls, [], 'not before the first period');
  await clock.advance(1);
  t.same(calls, [100], 'the first call is one period from the start');
  await clock.advance(350);
  t.same(calls, [100, 200, 300, 400], 'one call per period passed, each at its own time');
  clock.clearInterval(handle);
  await clock.advance(1_000);
  t.same(calls, [100, 200, 300, 400], 'none after clearInterval');
  t.equal(clock.pending, 0);
});

t.test(
  'ManualClock: a periodic timer may clear itself; timeouts and periods interleave in time order',
  async (t) => {
    const clock = new ManualClock(0);
    const events: string[] = [];
    let n = 0;
    const tick = clock.setInterval(() => {
      events.push(`tick@${clock.now()}`);
      if (++n === 3) clock.clearInterval(tick);
    }, 10);
    clock.setTimeout(() => events.push(`timeout@${clock.now()}`), 25);
    await clock.advance(100);
    t.same(events, ['tick@10', 'tick@20', 'timeout@25', 'tick@30']);
    t.equal(clock.pending, 0);
  },
);

t.test('ManualClock: a zero period counts as 1 ms, so time still moves', async (t) => {
  const clock = new ManualClock(0);
  let calls = 0;
  const handle = clock.setInterval(() => calls++, 0);
  await clock.advance(5);
  t.equal(calls, 5);
  clock.clearInterval(handle);
});

t.test('systemClock: setInterval repeats and clearInterval stops it', async (t) => {
  let calls = 0;
  const handle = systemClock.setInterval(() => calls++, 5);
  await new Promise((r) => setTimeout(r, 60));
  systemClock.clearInterval(handle);
  const seen = calls;
  t.ok(seen >= 2, `repeated (${seen} calls)`);
  await new Promise((r) => setTimeout(r, 30));
  t.equal(calls, seen, 'no call after clearInterval');
});

t.test(
  'waitUntil: sees the work end in real time; gives up when the clock says the time is up',
  async (t) => {
    const clock = new ManualClock(0);
    let ready = false;
    const held = waitUntil(() => ready, 1_000, 5, clock);
    setTimeout(() => {
      ready = true;
    }, 20);
    t.equal(await held, true, 'done without the clock moving');

    let gaveUp = false;
    const never = waitUntil(() => false, 100, 5, clock).then((r) => {
      gaveUp = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 30));
    t.equal(gaveUp, false, 'real time alone does not end the wait');
    await clock.advance(100);
    t.equal(await never, false, 'the clock passing the timeout does');
  },
);
