import { Aedes } from 'aedes';
import t, { type Test } from 'tap';
import type { Decision } from '../../../agent/decision/index.js';
import { AgentMetrics } from '../../../agent/metrics.js';
import {
  type DeliveryChannel,
  JsonChannel,
  MqttLink,
  OutboxPublisher,
  type PublisherOptions,
} from '../../../agent/sync/index.js';
import { collect, startAedes } from '../../helpers/brokers.js';
import { draft, quietLog, tempStore } from '../../helpers/fixtures.js';
import { flush, ManualClock } from '../../helpers/manual-clock.js';
import { freePort, waitFor } from '../../helpers/net.js';

const mqttConfig = (url: string, over: { publishTimeoutMs?: number } = {}) => ({
  url,
  format: 'json' as const,
  publishTimeoutMs: over.publishTimeoutMs ?? 5_000,
  maxInFlight: 8,
  backlogShare: 0.5,
  backlogRatePerSec: 0,
  reconnectMinMs: 1_000,
  reconnectMaxMs: 8_000,
});

interface Held {
  seq: number;
  historical: boolean;
  release(): void;
}

/**
 * The real JSON channel to a real broker, with a gate in front: each delivery waits until the test releases
 * it, so the test decides when a PUBACK "comes" and can read the in-flight window at every step.
 */
class GatedChannel implements DeliveryChannel {
  readonly name = 'json';
  readonly held: Held[] = [];
  readonly calls: { seq: number; historical: boolean }[] = [];
  open = false;

  constructor(private readonly inner: JsonChannel) {}

  get connected(): boolean {
    return this.inner.connected;
  }

  onUp(fn: () => void): void {
    this.inner.onUp(fn);
  }

  onDown(fn: () => void): void {
    this.inner.onDown(fn);
  }

  deliver(decision: Decision, historical: boolean): Promise<void> {
    this.calls.push({ seq: decision.seq, historical });
    if (this.open) return this.inner.deliver(decision, historical);
    return new Promise((resolve, reject) => {
      this.held.push({
        seq: decision.seq,
        historical,
        release: () => this.inner.deliver(decision, historical).then(resolve, reject),
      });
    });
  }

  /** Lets the oldest held delivery of a lane through and waits for its PUBACK to reach the publisher. */
  async release(historical: boolean): Promise<void> {
    const i = this.held.findIndex((h) => h.historical === historical);
    const [h] = this.held.splice(i, 1);
    if (!h) throw new Error(`nothing held in the ${historical ? 'backlog' : 'live'} lane`);
    h.release();
  }

  count(historical: boolean): number {
    return this.held.filter((h) => h.historical === historical).length;
  }
}

async function acked(metrics: AgentMetrics): Promise<number> {
  return (await metrics.published.get()).values.reduce((n, v) => n + v.value, 0);
}

async function setup(
  t: Test,
  url: string,
  opts: Omit<PublisherOptions, 'maxInFlight'>,
  backlog: number,
  gateOpen = false,
) {
  const clock = new ManualClock();
  const { store } = tempStore();
  const metrics = new AgentMetrics(false);
  const deps = { clock, log: quietLog, metrics };
  const link = new MqttLink(mqttConfig(url), 'cell-1', 'r', deps);
  const channel = new GatedChannel(new JsonChannel(link));
  channel.open = gateOpen;
  const publisher = new OutboxPublisher(store, channel, { maxInFlight: 8, ...opts }, deps);
  // decisions stored before the connection: the backlog lane
  for (let i = 0; i < backlog; i++) store.record(draft());
  await publisher.start();
  await link.start();
  await waitFor(() => link.connected, 5_000, 'connect');
  t.teardown(async () => {
    channel.open = true;
    for (const h of channel.held.splice(0)) h.release();
    await publisher.stop();
    await link.stop();
    store.close();
  });
  const record = () => {
    store.record(draft());
    publisher.notify();
  };
  return { clock, store, link, channel, publisher, record, metrics };
}

t.test(
  'backlogShare: live decisions get their slots; the backlog keeps its share, all of it when idle',
  async (t) => {
    const broker = await startAedes();
    t.teardown(() => broker.stop());
    const s = await setup(t, broker.url, { backlogShare: 0.25 }, 40);
    await waitFor(() => s.channel.held.length === 8, 2_000, 'window full');
    t.equal(s.channel.count(true), 8, 'no live traffic: the backlog may use the whole window');

    for (let i = 0; i < 2; i++) s.record();
    t.equal(s.channel.count(false), 0, 'window full: live waits for a slot (one PUBACK at most)');
    // each backlog PUBACK frees a slot: live takes it first, and the backlog is not refilled past 25 % of 8
    for (let i = 0; i < 8; i++) {
      await s.channel.release(true);
      await waitFor(
        async () => (await acked(s.metrics)) === i + 1,
        2_000,
        'the PUBACK reached the publisher',
      );
      await flush();
    }
    t.same(s.publisher.lanes, { live: 2, backlog: 2 }, 'live in flight: backlog held to 25 % of 8');
    t.equal(s.publisher.inFlight, 4, 'four slots stay free for the line');
    for (let i = 0; i < 4; i++) s.record();
    t.same(s.publisher.lanes, { live: 6, backlog: 2 }, 'new live decisions go out at once, no PUBACK needed');
    t.same(
      s.channel.calls.filter((c) => !c.historical).map((c) => c.seq),
      [41, 42, 43, 44, 45, 46],
      'live in order',
    );

    // once the live lane is empty again the backlog may take every slot
    for (let i = 0; i < 6; i++) await s.channel.release(false);
    // (the two backlog ones still held are let through too, so nothing blocks the refill)
    await s.channel.release(true);
    await s.channel.release(true);
    await waitFor(() => s.channel.count(true) === 8, 2_000, 'backlog refills the window');
    t.same(s.publisher.lanes, { live: 0, backlog: 8 });
  },
);

t.test('backlogShare 0: while live traffic flows, the backlog waits', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const s = await setup(t, broker.url, { backlogShare: 0 }, 10);
  await waitFor(() => s.channel.held.length === 8, 2_000, 'window full');
  s.record();
  await s.channel.release(true);
  await waitFor(() => s.channel.count(false) === 1, 2_000, 'live sent');
  for (let i = 0; i < 7; i++) await s.channel.release(true);
  await waitFor(() => s.publisher.inFlight === 1, 2_000, 'backlog drained from the window');
  await flush();
  t.same(s.publisher.lanes, { live: 1, backlog: 0 }, 'no backlog while the live one is in flight');
  await s.channel.release(false);
  await waitFor(() => s.channel.count(true) === 2, 2_000, 'backlog resumes');
});

t.test(
  'backlogRatePerSec: a token bucket on the clock paces the backlog, never live decisions',
  async (t) => {
    const broker = await startAedes();
    t.teardown(() => broker.stop());
    const sub = await collect(broker.url, 'r/decisions/#');
    t.teardown(() => sub.end());
    const s = await setup(t, broker.url, { backlogRatePerSec: 4 }, 20, true);
    const sent = () => s.channel.calls.filter((c) => c.historical).length;
    await waitFor(() => sent() === 4, 2_000, 'the first burst');
    await waitFor(() => s.publisher.inFlight === 0, 2_000, 'acks');
    s.publisher.notify();
    t.equal(sent(), 4, 'a full bucket sends 4, then waits');
    await s.clock.advance(249);
    t.equal(sent(), 4, 'no token yet');
    await s.clock.advance(1);
    t.equal(sent(), 5, 'one token every 250 ms');
    await s.clock.advance(750);
    t.equal(sent(), 8);

    for (let i = 0; i < 3; i++) s.record();
    t.same(
      s.channel.calls.filter((c) => !c.historical).map((c) => c.seq),
      [21, 22, 23],
      'live decisions are not rate limited',
    );
    await s.clock.advance(3_000);
    t.equal(sent(), 20, 'the whole backlog, at the configured pace');
    await s.clock.advance(200); // the ack flush timer
    await waitFor(() => s.store.stats().backlog === 0, 2_000, 'all acked');
    t.same(
      sub.messages.map((m) => (m.json() as { seq: number }).seq).sort((a, b) => a - b),
      Array.from({ length: 23 }, (_, i) => i + 1),
      'every decision reached a subscriber',
    );
  },
);

t.test(
  'our publish timeout (on the clock) fails a PUBACK that never comes; the decision is sent again',
  async (t) => {
    // a broker that holds the PUBACK of the first decision until the test lets it go
    const aedes = await Aedes.createBroker();
    let hold: (() => void) | undefined;
    aedes.authorizePublish = (_client, packet, cb) => {
      if (packet.topic.startsWith('r/decisions/') && hold === undefined) {
        hold = () => cb(null);
        return;
      }
      cb(null);
    };
    const port = await freePort();
    const { createServer } = await import('node:net');
    const server = createServer((socket) => aedes.handle(socket));
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    t.teardown(async () => {
      hold?.();
      await new Promise<void>((r) => aedes.close(() => r()));
      server.close();
    });

    const clock = new ManualClock();
    const { store } = tempStore();
    const metrics = new AgentMetrics(false);
    const deps = { clock, log: quietLog, metrics };
    const link = new MqttLink(
      mqttConfig(`mqtt://127.0.0.1:${port}`, { publishTimeoutMs: 5_000 }),
      'c',
      'r',
      deps,
    );
    const channel = new JsonChannel(link);
    const calls: number[] = [];
    const counting: DeliveryChannel = {
      name: 'json',
      get connected() {
        return channel.connected;
      },
      onUp: (fn) => channel.onUp(fn),
      onDown: (fn) => channel.onDown(fn),
      deliver: (d, h) => {
        calls.push(d.seq);
        return channel.deliver(d, h);
      },
    };
    const publisher = new OutboxPublisher(store, counting, { maxInFlight: 4 }, deps);
    await publisher.start();
    await link.start();
    t.teardown(async () => {
      await publisher.stop();
      await link.stop();
      store.close();
    });
    await waitFor(() => link.connected, 5_000, 'connect');
    store.record(draft());
    publisher.notify();
    await waitFor(() => hold !== undefined, 2_000, 'the broker holds the PUBACK');

    await clock.advance(4_999);
    t.same(calls, [1], 'still waiting inside the timeout');
    t.equal((await metrics.publishFailures.get()).values[0]?.value ?? 0, 0);
    await clock.advance(1);
    t.equal((await metrics.publishFailures.get()).values[0]?.value, 1, 'timed out: counted as a failure');
    t.same(calls, [1, 1], 'and sent again at once');
    t.equal(store.stats().backlog, 1, 'still unsent in the store');

    hold?.();
    await waitFor(() => publisher.inFlight === 0, 5_000, 'the resend is acknowledged');
    await clock.advance(200);
    t.equal(store.stats().backlog, 0, 'marked sent only on PUBACK');
  },
);
