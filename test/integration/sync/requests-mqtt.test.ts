import mqtt from 'mqtt';
import t, { type Test } from 'tap';
import { AgentMetrics } from '../../../agent/metrics.js';
import { MqttLink, type RequestHandlers, RequestRouter, requestSchemas } from '../../../agent/sync/index.js';
import { collect, startAedes, type TestBroker } from '../../helpers/brokers.js';
import { quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { waitFor } from '../../helpers/net.js';

/** A router on a live link whose handlers record what ran. */
async function serve(t: Test, broker: TestBroker) {
  const ran: Array<[string, unknown]> = [];
  const handlers = Object.fromEntries(
    Object.keys(requestSchemas).map((name) => [
      name,
      async (args: unknown) => {
        ran.push([name, args]);
        return { done: name };
      },
    ]),
  ) as unknown as RequestHandlers;
  const link = new MqttLink(
    {
      url: broker.url,
      format: 'json',
      publishTimeoutMs: 5_000,
      maxInFlight: 8,
      backlogShare: 0.5,
      backlogRatePerSec: 0,
      reconnectMinMs: 1_000,
      reconnectMaxMs: 8_000,
    },
    'cell-1',
    'r',
    { clock: new ManualClock(), log: quietLog, metrics: new AgentMetrics(false) },
  );
  const journal: Array<{ name: string; status: string; error?: string | undefined }> = [];
  new RequestRouter(handlers, quietLog, { journal: { logRequest: (e) => journal.push(e) } }).attach(link);
  await link.start();
  t.teardown(() => link.stop());
  await waitFor(() => link.connected, 5_000, 'link up');
  return { ran, journal, link };
}

async function publish(url: string, topic: string, payload: string, retain: boolean): Promise<void> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  await c.publishAsync(topic, payload, { qos: 1, retain });
  await c.endAsync();
}

t.test('a retained request is refused and answered, never executed, on every start', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const responses = await collect(broker.url, 'r/response/#');
  t.teardown(() => responses.end());
  await publish(broker.url, 'r/request/camera/enable', '{"camera":"cam-1","enabled":false}', true);

  for (let start = 1; start <= 2; start++) {
    const { ran, journal, link } = await serve(t, broker);
    await waitFor(() => responses.messages.length === start, 5_000, `response ${start}`);
    const answer = responses.messages.at(-1)?.json();
    t.equal(answer?.status, 'error');
    t.match(answer?.error, /retained requests are not executed/);
    t.equal(answer?.code, 'EVA_ERR_REQUEST_RETAINED', 'the refusal carries its code');
    t.same(ran, [], `start ${start}: the camera was not disabled`);
    t.match(journal, [{ name: 'camera/enable', status: 'error' }], 'the refusal is in the request log');
    await link.stop();
  }

  // the empty retained message that clears it is not a request either
  const { ran, journal } = await serve(t, broker);
  await waitFor(() => responses.messages.length === 3, 5_000, 'refused once more');
  await publish(broker.url, 'r/request/camera/enable', '', true);
  // a live request still works, and is answered after the clearing message was (or was not) handled
  await publish(broker.url, 'r/request/trigger', '{"camera":"cam-1","transaction":"t1"}', false);
  await waitFor(() => responses.messages.length === 4, 5_000, 'live answer');
  t.same(responses.messages.at(-1)?.json(), { status: 'ok', data: { done: 'trigger' }, transaction: 't1' });
  t.same(ran, [['trigger', { camera: 'cam-1' }]], 'only the live request ran');
  t.equal(journal.length, 2, 'the empty clearing message was not logged as a request');
});

t.test('a request nested 5,000 deep over MQTT is answered; the agent lives on', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const responses = await collect(broker.url, 'r/response/#');
  t.teardown(() => responses.end());
  const { ran } = await serve(t, broker);
  const deep = `{"camera":${'['.repeat(5_000)}${']'.repeat(5_000)}}`;
  await publish(broker.url, 'r/request/trigger', deep, false);
  await publish(broker.url, 'r/request/trigger', '{"camera":"cam-1"}', false);
  await waitFor(() => responses.messages.length === 2, 5_000, 'both answered');
  t.match(responses.messages[0]?.json(), { status: 'error', error: /nests deeper/ });
  t.equal(responses.messages[0]?.json().code, 'EVA_ERR_REQUEST_TOO_DEEP');
  t.equal(responses.messages[1]?.json().status, 'ok', 'the next request is served');
  t.same(ran, [['trigger', { camera: 'cam-1' }]]);
});
