import mqtt from 'mqtt';
import pino from 'pino';
import t, { type Test } from 'tap';
import { MqttConnection, type MqttConnectionOptions } from '../../../agent/sync/index.js';
import { collect, startAedes, type TestBroker } from '../../helpers/brokers.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { freePort, waitFor } from '../../helpers/net.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';

/** A connection on a clock the test moves; its will names the attempt it belongs to. */
function connection(t: Test, url: string, over: Partial<MqttConnectionOptions> = {}) {
  const clock = new ManualClock();
  const logs: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => logs.push(line) });
  let wills = 0;
  const conn = new MqttConnection(
    {
      url,
      clientId: `conn-test-${Math.random()}`,
      keepaliveS: 30,
      connectTimeoutMs: 2_000,
      reconnectMinMs: 1_000,
      reconnectMaxMs: 8_000,
      publishTimeoutMs: 5_000,
      will: () => ({ topic: 'c/will', payload: Buffer.from(`attempt ${++wills}`), qos: 1, retain: false }),
      label: 'Test MQTT',
      setting: (file) => `test.${file}`,
      ...over,
    },
    { clock, log },
  );
  const events: string[] = [];
  conn.onUp(() => events.push('up'));
  conn.onDown(() => events.push('down'));
  t.teardown(() => conn.close(500));
  return { conn, clock, logs, events, wills: () => wills };
}

/** A broker that sits on every publish to `c/stuck`: no PUBACK ever comes for one. */
async function stallingBroker(t: Test): Promise<TestBroker> {
  const broker = await startAedes({
    broker: {
      authorizePublish: (_client, packet, done) => (packet.topic === 'c/stuck' ? undefined : done()),
    },
  });
  t.teardown(() => broker.stop());
  return broker;
}

const settled = (p: Promise<unknown>) => {
  const state = { done: false, error: undefined as unknown };
  p.then(
    () => {
      state.done = true;
    },
    (err: unknown) => {
      state.done = true;
      state.error = err;
    },
  );
  return state;
};

t.test('attempts back off on the injected clock, each with a will of its own', async (t) => {
  // an unreadable CA fails every attempt before any socket, so the attempts follow the clock alone
  const { conn, clock, logs, wills } = connection(t, 'mqtt://127.0.0.1:1', { ca: '/nonexistent/ca.pem' });
  conn.open();
  t.equal(wills(), 1, 'the will is asked for before the first CONNECT, files or not');
  t.match(conn.lastError, /^cannot read test\.ca \/nonexistent\/ca\.pem: /);
  t.equal(logs.filter((l) => l.includes('Test MQTT settings unusable')).length, 1);

  // each failed attempt schedules the next one further away: 1 s, 2 s, 4 s, 8 s, 8 s (+-20 %)
  const gaps: number[] = [];
  let last = clock.now();
  while (gaps.length < 5) {
    const before = conn.reconnects;
    await clock.advance(10);
    if (conn.reconnects > before) {
      gaps.push(clock.now() - last);
      last = clock.now();
    }
  }
  [1_000, 2_000, 4_000, 8_000, 8_000].forEach((base, i) => {
    const gap = gaps[i] ?? 0;
    t.ok(gap >= base * 0.8 && gap <= base * 1.2 + 10, `gap ${i + 1}: ${gap} ms ~ ${base} ms`);
  });
  t.equal(wills(), 6, 'one will per attempt');
  t.equal(conn.snapshot().connected, false);
});

t.test('the broker sends the will of the attempt in force when the link dies', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const proxy = new TcpProxy(await freePort(), broker.port);
  t.teardown(() => proxy.down());
  await proxy.up();
  const plant = await collect(broker.url, 'c/will');
  t.teardown(() => plant.end());
  const { conn, clock, events } = connection(t, `mqtt://127.0.0.1:${proxy.port}`);
  conn.open();
  await waitFor(() => conn.connected, 5_000, 'connect');
  t.equal(conn.snapshot().connectedSince, clock.now());

  for (let round = 1; round <= 2; round++) {
    await proxy.down();
    await waitFor(() => plant.messages.length === round, 5_000, `will ${round}`);
    t.equal(plant.messages.at(-1)?.payload, `attempt ${round}`, `round ${round}: that attempt's will`);
    t.equal(conn.connected, false);
    t.equal(conn.snapshot().connectedSince, null);
    await proxy.up();
    await clock.advance(799);
    t.equal(conn.reconnects, round - 1, 'no attempt before the backoff');
    await clock.advance(401);
    await waitFor(() => conn.connected, 5_000, 'reconnected');
  }
  t.same(events, ['up', 'down', 'up', 'down', 'up']);
});

t.test('a publish nobody acknowledges fails when the injected clock passes its timeout', async (t) => {
  const broker = await stallingBroker(t);
  const { conn, clock } = connection(t, broker.url);
  await t.rejects(conn.publish('c/ok', 'x', { qos: 1 }), { code: 'EVA_ERR_MQTT_CONNECT' }, 'not yet up');
  conn.open();
  await waitFor(() => conn.connected, 5_000, 'connect');

  await conn.publish('c/ok', 'x', { qos: 1 });
  const stuck = conn.publish('c/stuck', 'x', { qos: 1 }, 3_000);
  const state = settled(stuck);
  await new Promise((r) => setTimeout(r, 200)); // real time passes: only the clock may end the wait
  await clock.advance(2_999);
  t.equal(state.done, false, 'still waiting at 2999 ms');
  await clock.advance(1);
  t.equal(state.done, true, 'given up at 3000 ms');
  t.match(state.error, {
    code: 'EVA_ERR_MQTT_PUBLISH_TIMEOUT',
    message: /no PUBACK within 3000 ms on c\/stuck/,
  });
  t.equal(conn.connected, true, 'a lost ack is not a lost link');

  // the default bound is the publishTimeoutMs option
  const late = settled(conn.publish('c/stuck', 'y', { qos: 1 }));
  await clock.advance(4_999);
  t.equal(late.done, false);
  await clock.advance(1);
  t.match(late.error, { code: 'EVA_ERR_MQTT_PUBLISH_TIMEOUT' });
});

t.test('messages carry retain; drop() ends the session and the next one subscribes again', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const plant = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.teardown(() => plant.endAsync());
  await plant.publishAsync('c/in/kept', 'old', { qos: 1, retain: true });

  const { conn, clock, events } = connection(t, broker.url);
  const got: { topic: string; payload: string; retain: boolean }[] = [];
  const grants: number[][] = [];
  conn.onUp(() =>
    conn.subscribe({ 'c/in/#': { qos: 1 } }, (err, granted) => {
      if (!err) grants.push(granted.map((g) => g.qos));
    }),
  );
  conn.onMessage((topic, payload, meta) => got.push({ topic, payload: payload.toString(), ...meta }));
  conn.open();
  await waitFor(() => got.length === 1, 5_000, 'the retained message');
  await plant.publishAsync('c/in/live', 'new', { qos: 1 });
  await waitFor(() => got.length === 2, 5_000, 'the live message');
  t.same(got, [
    { topic: 'c/in/kept', payload: 'old', retain: true },
    { topic: 'c/in/live', payload: 'new', retain: false },
  ]);

  conn.drop();
  t.equal(conn.connected, false);
  t.same(events, ['up', 'down']);
  await clock.advance(1_200);
  await waitFor(() => got.length === 3, 5_000, 'the retained message on the new session');
  t.same(got[2], { topic: 'c/in/kept', payload: 'old', retain: true });
  t.same(grants, [[1], [1]], 'subscribed once per session');
  t.same(events, ['up', 'down', 'up']);
  t.equal(conn.reconnects, 1);
});

t.test('close: the farewell goes first, the broker drops the will, and nothing follows', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const plant = await collect(broker.url, 'c/#');
  t.teardown(() => plant.end());
  const { conn, clock, events } = connection(t, broker.url);
  conn.open();
  await waitFor(() => conn.connected, 5_000, 'connect');
  await conn.close(2_000, {
    what: 'the goodbye',
    send: () => conn.publish('c/bye', 'bye', { qos: 1, retain: true }),
  });
  t.equal(conn.connected, false);
  t.same(events, ['up', 'down']);
  await waitFor(() => plant.messages.length > 0, 2_000, 'the goodbye');
  await new Promise((r) => setTimeout(r, 200));
  t.same(
    plant.messages.map((m) => m.topic),
    ['c/bye'],
    'a clean DISCONNECT: no will',
  );
  await clock.advance(60_000);
  t.equal(conn.reconnects, 0, 'no attempt after close');
  await t.rejects(conn.publish('c/x', 'x', { qos: 0 }), { code: 'EVA_ERR_MQTT_CONNECT' });
});

t.test('close is bounded in real time while the clock stands still', async (t) => {
  const broker = await stallingBroker(t);
  const { conn, logs } = connection(t, broker.url);
  conn.open();
  await waitFor(() => conn.connected, 5_000, 'connect');
  const started = Date.now();
  await conn.close(300, {
    what: 'the stuck goodbye',
    send: () => conn.publish('c/stuck', 'bye', { qos: 1 }),
  });
  const took = Date.now() - started;
  t.ok(took >= 250 && took < 2_000, `close took ${took} ms`);
  t.ok(logs.some((l) => l.includes('could not publish the stuck goodbye')));
  t.equal(conn.connected, false);
});
