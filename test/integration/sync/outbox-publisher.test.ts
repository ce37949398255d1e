import t, { type Test } from 'tap';
import { AgentMetrics } from '../../../agent/metrics.js';
import { systemClock } from '../../../agent/service.js';
import { JsonChannel, MqttLink, OutboxPublisher } from '../../../agent/sync/index.js';
import { collect, startAedes } from '../../helpers/brokers.js';
import { draft, quietLog, tempStore } from '../../helpers/fixtures.js';
import { freePort, waitFor } from '../../helpers/net.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';

const mqttConfig = (url: string) => ({
  url,
  format: 'json' as const,
  publishTimeoutMs: 2_000,
  maxInFlight: 4,
  backlogShare: 0.5,
  backlogRatePerSec: 0,
  reconnectMinMs: 50,
  reconnectMaxMs: 200,
});

async function setup(t: Test, port: number) {
  const { store } = tempStore();
  const metrics = new AgentMetrics(false);
  const deps = { clock: systemClock, log: quietLog, metrics };
  const link = new MqttLink(mqttConfig(`mqtt://127.0.0.1:${port}`), 'cell-1', 'r', deps);
  const publisher = new OutboxPublisher(store, new JsonChannel(link), { maxInFlight: 4 }, deps);
  await link.start();
  await publisher.start();
  t.teardown(async () => {
    await publisher.stop();
    await link.stop();
    store.close();
  });
  const record = () => {
    const d = store.record(draft());
    publisher.notify();
    return d;
  };
  return { store, link, publisher, record, metrics };
}

interface Got {
  seq: number;
  historical: boolean;
}

t.test(
  'backlog goes out oldest first as historical, live ones as they come, each marked sent on PUBACK',
  async (t) => {
    const broker = await startAedes();
    t.teardown(() => broker.stop());
    const sub = await collect(broker.url, 'r/decisions/#');
    t.teardown(() => sub.end());
    // the agent reaches the broker through a proxy held down: the network is out
    const proxy = new TcpProxy(await freePort(), broker.port);
    t.teardown(() => proxy.down());
    const s = await setup(t, proxy.port);
    for (let i = 0; i < 10; i++) s.record();
    t.equal(s.store.stats().backlog, 10, 'broker away: all ten wait');
    await proxy.up();
    await waitFor(() => s.link.connected, 5_000, 'reconnect');
    const got = () => sub.messages.map((m) => m.json() as unknown as Got);
    await waitFor(() => got().length >= 10, 5_000, 'the backlog');
    for (let i = 0; i < 5; i++) s.record();
    await waitFor(() => got().length >= 15, 5_000, 'live decisions');

    const hist = got()
      .filter((g) => g.historical)
      .map((g) => g.seq);
    const live = got()
      .filter((g) => !g.historical)
      .map((g) => g.seq);
    t.same(hist, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    t.same(live, [11, 12, 13, 14, 15]);
    await waitFor(() => s.store.stats().backlog === 0, 2_000, 'acks recorded');
    t.equal(
      (await s.metrics.published.get()).values.reduce((a, v) => a + v.value, 0),
      15,
    );
  },
);

t.test('decisions stored while the link is down are sent when it returns', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const sub = await collect(broker.url, 'r/decisions/#');
  t.teardown(() => sub.end());
  const proxy = new TcpProxy(await freePort(), broker.port);
  t.teardown(() => proxy.down());
  await proxy.up();
  const s = await setup(t, proxy.port);
  await waitFor(() => s.link.connected, 5_000, 'connect');
  await proxy.down();
  await waitFor(() => !s.link.connected, 5_000, 'notice the network is gone');
  for (let i = 0; i < 3; i++) s.record();
  await proxy.up();
  await waitFor(() => s.store.stats().backlog === 0, 10_000, 'backlog delivered');
  const seqs = sub.messages.map((m) => (m.json() as unknown as Got).seq);
  t.same(seqs.slice(-3), [1, 2, 3]);
});
