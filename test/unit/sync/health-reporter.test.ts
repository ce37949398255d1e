import t from 'tap';
import { HEALTH_PERIOD_MS, HealthReporter, type MqttLink } from '../../../agent/sync/index.js';
import { quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';

t.test(
  'R/health is published every period on the injected clock, on each reconnect, and not after stop',
  async (t) => {
    const clock = new ManualClock();
    const published: { topic: string; body: string }[] = [];
    const up: (() => void)[] = [];
    const link = {
      topicRoot: 'plant/line-1/agent',
      connected: true,
      onUp: (fn: () => void) => up.push(fn),
      publish: async (topic: string, body: string) => {
        published.push({ topic, body });
      },
    } as unknown as MqttLink;
    let n = 0;
    const reporter = new HealthReporter(link, () => ({ n: ++n }), quietLog, HEALTH_PERIOD_MS, clock);
    await reporter.start();
    t.equal(published.length, 0, 'nothing before the first period');
    await clock.advance(HEALTH_PERIOD_MS);
    t.same(published, [{ topic: 'plant/line-1/agent/health', body: '{"n":1}' }]);
    for (const fn of up) fn();
    t.equal(published.length, 2, 'a reconnect publishes at once');
    await clock.advance(2 * HEALTH_PERIOD_MS);
    t.equal(published.length, 4, 'one per period');
    await reporter.stop();
    await clock.advance(10 * HEALTH_PERIOD_MS);
    t.equal(published.length, 4, 'none after stop');
    t.equal(clock.pending, 0, 'its timer is gone');
  },
);
