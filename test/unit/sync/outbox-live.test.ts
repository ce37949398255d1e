import t, { type Test } from 'tap';
import type { Decision } from '../../../agent/decision/index.js';
import { type DeliveryChannel, OutboxPublisher } from '../../../agent/sync/index.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { flush } from '../../helpers/manual-clock.js';
import { tempStorage } from '../../helpers/storage.js';

// The outbox's live lane sends what DecisionStored hands it, with the payload the store wrote, and reads
// the store only to catch up. A channel whose publishes the test settles by hand; a real store and Storage.

interface Sent {
  seq: number;
  historical: boolean;
  stored: string | undefined;
  ack(): void;
  fail(err: Error): void;
}

class HandChannel implements DeliveryChannel {
  readonly name = 'json';
  connected = true;
  readonly sent: Sent[] = [];
  private readonly ups: (() => void)[] = [];

  onUp(fn: () => void): void {
    this.ups.push(fn);
  }

  onDown(): void {}

  deliver(decision: Decision, historical: boolean, stored?: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.sent.push({ seq: decision.seq, historical, stored, ack: resolve, fail: reject }),
    );
  }

  /** Acks everything sent and not settled yet. */
  ackAll(): void {
    for (const s of this.sent.splice(0)) s.ack();
  }
}

async function setup(t: Test, maxInFlight = 4) {
  const s = tempStorage();
  const channel = new HandChannel();
  const liveReads: number[] = [];
  const unsent = s.store.unsent.bind(s.store);
  s.store.unsent = (ch, after, before, limit) => {
    if (before === Number.MAX_SAFE_INTEGER) liveReads.push(after);
    return unsent(ch, after, before, limit);
  };
  const publisher = new OutboxPublisher(
    s.store,
    channel,
    { maxInFlight },
    { clock: s.clock, log: quietLog, metrics: s.metrics, events: s.events },
  );
  await publisher.start();
  t.teardown(async () => {
    channel.connected = false; // stop() does not wait for acks on the manual clock
    await publisher.stop();
    s.store.close();
  });
  const delivered: Sent[] = [];
  const take = () => {
    const batch = channel.sent.splice(0);
    delivered.push(...batch);
    return batch;
  };
  const record = (n: number) =>
    Promise.all(Array.from({ length: n }, (_, i) => s.storage.recordOrHold(draft({ partId: `P${i}` }))));
  return { ...s, channel, publisher, liveReads, take, delivered, record };
}

t.test('live decisions go out as handed in, with the stored payload, and no read of the store', async (t) => {
  const s = await setup(t, 4);
  const decisions = await s.record(10);
  let batch = s.take();
  t.same(
    batch.map((b) => b.seq),
    [1, 2, 3, 4],
    'the window: four in flight, oldest first',
  );
  while (batch.length > 0) {
    for (const b of batch) b.ack();
    await flush();
    batch = s.take();
  }
  t.same(
    s.delivered.map((d) => d.seq),
    decisions.map((d) => d.seq),
    'each once, in seq order',
  );
  t.ok(
    s.delivered.every((d) => !d.historical),
    'live',
  );
  for (const d of s.delivered) {
    t.equal(
      d.stored,
      JSON.stringify(s.store.getById(decisions[d.seq - 1]?.id ?? '')),
      `seq ${d.seq}: as stored`,
    );
  }
  t.same(s.liveReads, [], 'the live lane never read the store');
});

t.test('a failed live publish is read back from the store and sent again; nothing is missed', async (t) => {
  const s = await setup(t, 4);
  await s.record(6);
  const [first, second, ...rest] = s.take();
  first?.ack();
  second?.fail(new Error('publish timed out'));
  for (const r of rest) r.ack();
  await flush();
  t.ok(s.liveReads.length > 0 && s.liveReads[0] === 1, 'read from the store from the failed one on');
  for (let i = 0; i < 20; i++) {
    const batch = s.take();
    if (batch.length === 0) break;
    for (const b of batch) b.ack();
    await flush();
  }
  const seqs = s.delivered.map((d) => d.seq);
  t.same(
    [...new Set(seqs)].sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6],
    'every one delivered',
  );
  t.equal(seqs.filter((q) => q === 2).length, 2, 'the failed one twice, the others once');
  t.equal(seqs.length, 7);
  t.equal(
    s.delivered.filter((d) => d.seq === 2)[1]?.stored,
    undefined,
    'resent as read back: serialised anew',
  );

  const reads = s.liveReads.length;
  await s.record(2);
  const batch = s.take();
  t.same(
    batch.map((b) => [b.seq, b.stored !== undefined]),
    [
      [7, true],
      [8, true],
    ],
    'caught up: new decisions are sent as handed in again',
  );
  t.equal(s.liveReads.length, reads, 'without reading the store');
});

t.test(
  'more live decisions than the lane keeps in memory: the rest come from the store, none lost',
  async (t) => {
    const s = await setup(t, 2);
    await s.record(1_100); // the window holds 2; LIVE_QUEUE_MAX (1 024) kept; the rest only in the store
    for (let i = 0; i < 2_000; i++) {
      const batch = s.take();
      if (batch.length === 0) break;
      for (const b of batch) b.ack();
      await flush();
    }
    t.same(
      s.delivered.map((d) => d.seq),
      Array.from({ length: 1_100 }, (_, i) => i + 1),
      'every seq once, in order',
    );
    t.ok(s.liveReads.length > 0, 'the store was read to catch up');
  },
);
