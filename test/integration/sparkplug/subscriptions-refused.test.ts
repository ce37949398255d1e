import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import sparkplugPayload from 'sparkplug-payload';
import t from 'tap';
import { systemClock } from '../../../agent/service.js';
import { SparkplugChannel } from '../../../agent/sync/sparkplug/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { startAedes } from '../../helpers/brokers.js';
import { waitFor } from '../../helpers/net.js';

const codec = sparkplugPayload.get('spBv1.0');
if (!codec) throw new Error('no spBv1.0 codec');

t.test('refused NCMD subscription: the session is dropped, the next attempt has a new bdSeq', async (t) => {
  // the broker refuses the node's first NCMD subscription (SUBACK 128), then grants it
  let refusals = 0;
  const broker = await startAedes({
    broker: {
      authorizeSubscribe: (_client, sub, done) => {
        const refuse = sub.topic.includes('/NCMD/') && refusals++ === 0;
        done(null, refuse ? null : sub);
      },
    },
  });
  t.teardown(() => broker.stop());
  const seen: { kind: string; bdSeq: number }[] = [];
  const host = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.teardown(() => host.endAsync());
  host.on('message', (topic, payload) => {
    const bdSeq = codec.decodePayload(payload).metrics?.find((m) => m.name === 'bdSeq')?.value;
    seen.push({ kind: topic.split('/')[2] ?? '', bdSeq: Number(bdSeq) });
  });
  await host.subscribeAsync('spBv1.0/plant-a/+/cell-7', { qos: 1 });

  const logs: string[] = [];
  const node = new SparkplugChannel(
    {
      url: broker.url,
      groupId: 'plant-a',
      edgeNodeId: 'cell-7',
      deviceIds: ['cam-1'],
      bdSeqFile: join(tempDir('eva-spb-'), 'bdseq'),
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
    },
    { clock: systemClock, log: pino({ level: 'debug' }, { write: (l: string) => logs.push(l) }) },
  );
  t.teardown(() => node.stop());
  await node.start(new AbortController().signal);
  await waitFor(() => node.connected, 10_000, 'born on the second session');

  t.equal(refusals, 2, 'asked twice: refused, then granted');
  t.ok(logs.some((l) => l.includes('Sparkplug subscriptions refused; reconnecting')));
  t.same(
    seen,
    [
      { kind: 'NDEATH', bdSeq: 0 },
      { kind: 'NBIRTH', bdSeq: 1 },
    ],
    'no birth on the refused session; its will went out; the birth carries the new bdSeq',
  );
  t.match(node.snapshot(), { session: true, subscribed: true, bdSeq: 1, reconnects: 1 });
});
