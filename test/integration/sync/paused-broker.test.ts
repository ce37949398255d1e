import pino from 'pino';
import t, { type Test } from 'tap';
import { MqttConnection } from '../../../agent/sync/index.js';
import { startMosquitto } from '../../helpers/brokers.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { waitFor } from '../../helpers/net.js';
import { requireTool } from '../../helpers/tools.js';

// A broker that is paused (SIGSTOP: a hung process, a VM frozen for a snapshot) keeps its TCP connections
// open: nothing fails, nothing answers. `connected` stayed true for as long as it lasted. The keepalive runs
// on the injected clock here, so the test moves time instead of waiting for it.

async function pausedBroker(t: Test) {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const clock = new ManualClock();
  const logs: string[] = [];
  const conn = new MqttConnection(
    {
      url: broker.url,
      clientId: `paused-${Math.random()}`,
      keepaliveS: 15,
      connectTimeoutMs: 2_000,
      reconnectMinMs: 1_000,
      reconnectMaxMs: 2_000,
      publishTimeoutMs: 10_000,
      will: () => ({ topic: 'p/will', payload: Buffer.from('gone'), qos: 1, retain: false }),
      label: 'Test MQTT',
      setting: (file) => `test.${file}`,
    },
    { clock, log: pino({ level: 'warn' }, { write: (l: string) => logs.push(l) }) },
  );
  const events: string[] = [];
  conn.onUp(() => events.push('up'));
  conn.onDown(() => events.push('down'));
  t.teardown(() => conn.close(300));
  conn.open();
  await waitFor(() => conn.connected, 5_000, 'connected');
  return { broker, clock, conn, events, logs };
}

/** Moves the clock in small steps, letting real I/O happen between them. */
async function pass(clock: ManualClock, ms: number, step = 1_000) {
  for (let done = 0; done < ms; done += step) {
    await clock.advance(step);
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('an idle link to a paused broker is given up after 1.5 x keepalive', async (t) => {
  if (!requireTool(t, 'mosquitto', 'a broker process to pause')) return;
  const { broker, clock, conn, events, logs } = await pausedBroker(t);
  broker.pause?.();
  await pass(clock, 20_000);
  t.equal(conn.connected, true, 'not yet: the keepalive allows 22.5 s of silence');
  await pass(clock, 8_000); // checked every keepalive / 4: given up between 22.5 and 26.25 s
  t.equal(conn.connected, false, 'connected turns false while the broker is paused');
  t.same(events, ['up', 'down'], 'the link is reported down (R/status, outbox and alerts follow it)');
  t.match(conn.lastError, /^no packet from the broker for 2\d s \(keepalive 15 s\): connection dropped$/);
  t.ok(logs.some((l) => l.includes('dropping the connection')));

  broker.resume?.();
  for (let i = 0; i < 40 && !conn.connected; i++) await pass(clock, 500, 500);
  t.equal(conn.connected, true, 'back once the broker runs again');
});

t.test('a publish waiting for its PUBACK does not keep a paused broker session alive', async (t) => {
  if (!requireTool(t, 'mosquitto', 'a broker process to pause')) return;
  const { broker, clock, conn } = await pausedBroker(t);
  broker.pause?.();
  const sent = conn.publish('p/decision', '{}', { qos: 1 });
  sent.catch(() => {});
  await pass(clock, 10_000);
  await t.rejects(sent, { code: 'EVA_ERR_MQTT_PUBLISH_TIMEOUT' }, 'the publish times out on its own bound');
  t.equal(conn.connected, true, 'a lost ack alone is not a lost link');
  await pass(clock, 18_000);
  t.equal(conn.connected, false, 'the keepalive gives the silent session up');
  t.match(conn.lastError, /^no packet from the broker for 2\d s \(keepalive 15 s\): connection dropped$/);
  broker.resume?.();
});
