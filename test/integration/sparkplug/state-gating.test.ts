import { join } from 'node:path';
import mqtt from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import t from 'tap';
import { composeDecision } from '../../../agent/decision/index.js';
import { systemClock } from '../../../agent/service.js';
import { SparkplugChannel } from '../../../agent/sync/sparkplug/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { startMosquitto } from '../../helpers/brokers.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { waitFor } from '../../helpers/net.js';
import { requireTool } from '../../helpers/tools.js';

const codec = sparkplugPayload.get('spBv1.0');
if (!codec) throw new Error('no spBv1.0 codec');

let n = 0;
const decision = () =>
  composeDecision(draft({ cameraId: 'cam-1' }), { id: `0190c3e1-${++n}`, seq: n, agentId: 'cell-7' });

t.test('births and data wait for the primary host to be online', async (t) => {
  if (!requireTool(t, 'mosquitto', 'the Sparkplug tests need a real MQTT broker')) return;
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());

  // the primary host: watches the node and owns the retained STATE topic
  const seen: { kind: string; seq: number; bdSeq?: number }[] = [];
  const host = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, clientId: 'scada-host' });
  t.teardown(() => host.endAsync());
  host.on('message', (topic, payload) => {
    const p = codec.decodePayload(payload);
    const bdSeq = p.metrics?.find((m) => m.name === 'bdSeq')?.value;
    seen.push({
      kind: topic.split('/')[2] ?? '',
      seq: Number(p.seq),
      ...(bdSeq !== undefined ? { bdSeq: Number(bdSeq) } : {}),
    });
  });
  await host.subscribeAsync('spBv1.0/plant-a/#', { qos: 1 });
  const state = (online: boolean, timestamp: number) =>
    host.publishAsync('spBv1.0/STATE/scada', JSON.stringify({ online, timestamp }), { qos: 1, retain: true });
  await state(false, 1_000);

  const node = new SparkplugChannel(
    {
      url: broker.url,
      groupId: 'plant-a',
      edgeNodeId: 'cell-7',
      deviceIds: ['cam-1'],
      bdSeqFile: join(tempDir('eva-spb-'), 'bdseq'),
      primaryHostId: 'scada',
      publishTimeoutMs: 3_000,
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
    },
    { clock: systemClock, log: quietLog },
  );
  const events: string[] = [];
  node.onUp(() => events.push('up'));
  node.onDown(() => events.push('down'));
  t.teardown(() => node.stop());
  await node.start(new AbortController().signal);

  // the retained offline STATE was processed after the subscriptions: no birth, deliver() refuses
  await waitFor(() => node.snapshot().subscribed && node.snapshot().hostTimestamp === 1_000, 10_000, 'STATE');
  t.equal(node.connected, false);
  t.equal(node.snapshot().hostOnline, false);
  await t.rejects(node.deliver(decision(), false), { code: 'EVA_ERR_MQTT_CONNECT' });

  await state(true, 2_000);
  await waitFor(() => node.connected, 5_000, 'birth once the host is online');
  await node.deliver(decision(), false);
  await waitFor(() => seen.some((m) => m.kind === 'DDATA'), 5_000, 'DDATA');
  t.same(
    seen.map((m) => m.kind),
    ['NBIRTH', 'DBIRTH', 'DDATA'],
    'nothing was published while the host was offline',
  );

  await state(false, 3_000);
  await waitFor(() => !node.connected, 5_000, 'host offline = down');
  t.same(events, ['up', 'down']);
  await t.rejects(node.deliver(decision(), false), { code: 'EVA_ERR_MQTT_CONNECT' });

  // a stale online (an older host session's) changes nothing; the fresh one brings a rebirth
  await state(true, 2_500);
  await state(true, 4_000);
  await waitFor(() => node.connected, 5_000, 'rebirth');
  await node.deliver(decision(), false);
  await waitFor(() => seen.filter((m) => m.kind === 'DDATA').length === 2, 5_000, 'second DDATA');
  t.same(
    seen.map((m) => [m.kind, m.seq]),
    [
      ['NBIRTH', 0],
      ['DBIRTH', 1],
      ['DDATA', 2],
      ['NBIRTH', 0],
      ['DBIRTH', 1],
      ['DDATA', 2],
    ],
    'exactly one rebirth, seq restarted',
  );
  t.equal(seen[3]?.bdSeq, seen[0]?.bdSeq, 'same session, same bdSeq');
  t.same(events, ['up', 'down', 'up']);
  await node.stop();
});

t.test('unusable options are all reported at start, before any connection', async (t) => {
  const node = new SparkplugChannel(
    { url: 'http://broker', groupId: 'a/b', edgeNodeId: '', deviceIds: ['cam+1', 'x', 'x'], bdSeqFile: '' },
    { clock: systemClock, log: quietLog },
  );
  const err = await node.start(new AbortController().signal).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  t.equal(err?.code, 'EVA_ERR_CONFIG_INVALID');
  for (const what of ['url', 'groupId', 'edgeNodeId', 'deviceIds[]', 'unique', 'bdSeqFile']) {
    t.match(err?.message, what, `reports ${what}`);
  }
  t.equal(node.snapshot().session, false);
  await node.stop();
});
