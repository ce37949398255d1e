import type { MqttClient } from 'mqtt';
import t from 'tap';
import { AgentMetrics } from '../../../agent/metrics.js';
import { backoffDelay } from '../../../agent/service.js';
import { MqttLink } from '../../../agent/sync/index.js';
import { collect, startAedes } from '../../helpers/brokers.js';
import { quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { freePort, waitFor } from '../../helpers/net.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';

const config = (url: string) => ({
  url,
  format: 'json' as const,
  publishTimeoutMs: 5_000,
  maxInFlight: 8,
  backlogShare: 0.5,
  backlogRatePerSec: 0,
  reconnectMinMs: 1_000,
  reconnectMaxMs: 8_000,
});

t.test('backoff: exponential, capped, jittered +-20 %', async (t) => {
  t.equal(
    backoffDelay(0, 1_000, 8_000, () => 0),
    800,
  );
  t.equal(
    backoffDelay(0, 1_000, 8_000, () => 1),
    1_200,
  );
  t.equal(
    backoffDelay(2, 1_000, 8_000, () => 0.5),
    4_000,
  );
  t.equal(
    backoffDelay(10, 1_000, 8_000, () => 0.5),
    8_000,
    'capped at the maximum',
  );
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(3, 1_000, 8_000)));
  t.ok(spread.size > 10, 'a fleet does not reconnect in lockstep');
  t.ok(
    [...spread].every((d) => d >= 6_400 && d <= 9_600),
    'all within 20 % of 8000',
  );
});

t.test(
  'reconnects on the clock with backoff and republishes the retained online status each time',
  async (t) => {
    const broker = await startAedes();
    t.teardown(() => broker.stop());
    const proxy = new TcpProxy(await freePort(), broker.port);
    t.teardown(() => proxy.down());
    await proxy.up();
    const status = await collect(broker.url, 'r/status');
    t.teardown(() => status.end());
    const clock = new ManualClock();
    const metrics = new AgentMetrics(false);
    const link = new MqttLink(config(`mqtt://127.0.0.1:${proxy.port}`), 'cell-1', 'r', {
      clock,
      log: quietLog,
      metrics,
    });
    let ups = 0;
    link.onUp(() => ups++);
    await link.start();
    t.teardown(() => link.stop());
    await waitFor(() => link.connected, 5_000, 'connect');
    const client = Reflect.get(Reflect.get(link, 'connection'), 'client') as MqttClient;
    t.equal(client.options.queueQoSZero, false, 'no unbounded offline queue for QoS 0');
    t.equal(client.options.reconnectPeriod, 0, "mqtt.js's fixed-interval reconnect is off: ours backs off");
    const online = () => status.messages.filter((m) => m.json().state === 'online');
    await waitFor(() => online().length === 1, 2_000, 'online status');

    for (let round = 1; round <= 2; round++) {
      await proxy.down();
      await waitFor(() => !link.connected, 5_000, 'notice the outage');
      // the will (offline) is published by the broker for an unclean drop
      await waitFor(() => status.messages.at(-1)?.json().state === 'offline', 2_000, 'will');
      await proxy.up();
      // first retry after 1000 ms +-20 %: nothing may happen before 800 ms
      await clock.advance(799);
      t.equal(link.snapshot().reconnects, round - 1, 'no attempt before the backoff');
      await clock.advance(401);
      t.equal(link.snapshot().reconnects, round, 'an attempt by 1200 ms');
      await waitFor(() => link.connected, 5_000, 'reconnected');
      await waitFor(() => online().length === round + 1, 2_000, 'online again');
      const last = status.messages.at(-1);
      t.equal(last?.json().state, 'online', `reconnect ${round}: online republished`);
    }
    t.equal(ups, 3);

    // a subscriber arriving later still sees the retained online status
    const late = await collect(broker.url, 'r/status');
    t.teardown(() => late.end());
    await waitFor(() => late.messages.length === 1, 2_000, 'retained status');
    t.ok(late.messages[0]?.retain, 'retained');
    t.equal(late.messages[0]?.json().state, 'online');
  },
);

t.test('the backoff grows while the broker stays away', async (t) => {
  const clock = new ManualClock();
  const link = new MqttLink(config(`mqtt://127.0.0.1:${await freePort()}`), 'cell-1', 'r', {
    clock,
    log: quietLog,
    metrics: new AgentMetrics(false),
  });
  await link.start();
  t.teardown(() => link.stop());
  // each failed attempt schedules the next one further away: 1 s, 2 s, 4 s, 8 s, 8 s (+-20 %)
  const attemptsAt: number[] = [];
  const start = clock.now();
  const pendingTimers = () => (Reflect.get(clock, 'timers') as unknown[]).length;
  for (let ms = 0; ms < 40_000 && attemptsAt.length < 5; ms += 100) {
    // let the refused attempt close and schedule its successor before time moves on
    await waitFor(() => pendingTimers() > 0, 2_000, 'next retry scheduled');
    const before = link.snapshot().reconnects;
    await clock.advance(100);
    if (link.snapshot().reconnects > before) attemptsAt.push(clock.now() - start);
  }
  const gaps = attemptsAt.map((at, i) => at - (attemptsAt[i - 1] ?? 0));
  t.equal(gaps.length, 5, `attempts at ${attemptsAt.join(', ')} ms`);
  const expected = [1_000, 2_000, 4_000, 8_000, 8_000];
  gaps.forEach((g, i) => {
    const e = expected[i] ?? 0;
    t.ok(g >= e * 0.8 && g <= e * 1.2 + 100, `gap ${i + 1}: ${g} ms ~ ${e} ms`);
  });
  t.match(link.snapshot().lastError, /ECONNREFUSED/, 'the reason is kept for /api/status');
});
