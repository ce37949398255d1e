import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import t from 'tap';
import { AgentMetrics } from '../../../agent/metrics.js';
import { systemClock } from '../../../agent/service.js';
import { DecisionStore } from '../../../agent/store/index.js';
import { OutboxPublisher } from '../../../agent/sync/index.js';
import { SparkplugChannel } from '../../../agent/sync/sparkplug/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { startMosquitto } from '../../helpers/brokers.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { freePort, waitFor } from '../../helpers/net.js';
import { requireTool } from '../../helpers/tools.js';

const codec = sparkplugPayload.get('spBv1.0');
if (!codec) throw new Error('no spBv1.0 codec');
const G = 'spBv1.0/plant-a';

const options = (url: string, dir: string) => ({
  url,
  clientId: 'cell-7',
  groupId: 'plant-a',
  edgeNodeId: 'cell-7',
  deviceIds: ['cam-1'],
  bdSeqFile: join(dir, 'bdseq'),
  publishTimeoutMs: 3_000,
  reconnectMinMs: 50,
  reconnectMaxMs: 200,
});

t.test('NCMD and DCMD are subscribed (SUBACK) before the NBIRTH is published', async (t) => {
  // aedes reports a client's subscriptions and publishes in the order it handles them
  const aedes = await Aedes.createBroker();
  const events: string[] = [];
  aedes.on('subscribe', (subs, client) => {
    if (client?.id === 'cell-7-spb') for (const s of subs) events.push(`SUB ${s.topic}`);
  });
  aedes.on('publish', (packet, client) => {
    if (client?.id === 'cell-7-spb') events.push(`PUB ${packet.topic}`);
  });
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    aedes.handle(s);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  t.teardown(async () => {
    await new Promise<void>((r) => aedes.close(() => r()));
    for (const s of sockets) s.destroy();
    server.close();
  });
  const node = new SparkplugChannel(options(`mqtt://127.0.0.1:${port}`, tempDir('eva-spb-')), {
    clock: systemClock,
    log: quietLog,
  });
  t.teardown(() => node.stop());
  await node.start(new AbortController().signal);
  await waitFor(() => events.includes(`PUB ${G}/DBIRTH/cell-7/cam-1`), 10_000, 'births');
  const nbirth = events.indexOf(`PUB ${G}/NBIRTH/cell-7`);
  const ncmd = events.indexOf(`SUB ${G}/NCMD/cell-7`);
  const dcmd = events.indexOf(`SUB ${G}/DCMD/cell-7/+`);
  t.ok(ncmd >= 0 && dcmd >= 0, `subscribed: ${events.join(', ')}`);
  t.ok(ncmd < nbirth && dcmd < nbirth, 'both before the NBIRTH');
  t.equal(
    nbirth,
    events.findIndex((e) => e.startsWith('PUB ')),
    'the NBIRTH is the first publish',
  );
});

t.test('through the outbox: backlog DDATA flagged is_historical, live not, every seq in order', async (t) => {
  if (!requireTool(t, 'mosquitto', 'the Sparkplug outbox test needs a real MQTT broker')) return;
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const host = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.teardown(() => host.endAsync());
  const got: { kind: string; seq: number; decisionSeq?: number; historical: boolean[] }[] = [];
  host.on('message', (topic, payload) => {
    const p = codec.decodePayload(payload);
    const metric = (name: string) => p.metrics?.find((m) => m.name === name);
    got.push({
      kind: topic.split('/')[2] ?? '',
      seq: Number(p.seq),
      ...(metric('Decision/Seq') ? { decisionSeq: Number(metric('Decision/Seq')?.value) } : {}),
      historical: (p.metrics ?? []).map((m) => m.isHistorical === true),
    });
  });
  await host.subscribeAsync(`${G}/#`, { qos: 1 });

  const dir = tempDir('eva-spb-outbox-');
  const store = DecisionStore.open({
    path: join(dir, 'agent.db'),
    agentId: 'cell-7',
    log: quietLog,
    channels: ['sparkplug'],
  });
  // 300 decisions made while the plant was away: more than one seq cycle
  for (let i = 0; i < 300; i++) store.record(draft());
  const deps = { clock: systemClock, log: quietLog, metrics: new AgentMetrics(false) };
  const node = new SparkplugChannel(options(broker.url, dir), deps);
  const publisher = new OutboxPublisher(store, node, { maxInFlight: 16, backlogShare: 0.5 }, deps);
  t.teardown(async () => {
    await publisher.stop();
    await node.stop();
    store.close();
  });
  await publisher.start();
  await node.start(new AbortController().signal);
  await waitFor(() => got.filter((g) => g.kind === 'DDATA').length === 300, 20_000, 'the backlog');
  for (let i = 0; i < 5; i++) {
    store.record(draft());
    publisher.notify();
  }
  await waitFor(() => got.filter((g) => g.kind === 'DDATA').length === 305, 10_000, 'live');
  await waitFor(() => store.stats().backlog === 0, 5_000, 'all acked');

  const ddata = got.filter((g) => g.kind === 'DDATA');
  const backlog = ddata.filter((d) => (d.decisionSeq ?? 0) <= 300);
  const live = ddata.filter((d) => (d.decisionSeq ?? 0) > 300);
  t.equal(backlog.length, 300);
  t.ok(
    backlog.every((d) => d.historical.length > 0 && d.historical.every(Boolean)),
    'every backlog metric is_historical',
  );
  t.same(
    live.map((d) => d.decisionSeq),
    [301, 302, 303, 304, 305],
  );
  t.ok(
    live.every((d) => d.historical.every((h) => !h)),
    'live metrics are not historical',
  );
  t.same(
    backlog.map((d) => d.decisionSeq),
    Array.from({ length: 300 }, (_, i) => i + 1),
    'oldest first, none missing',
  );
  t.ok(
    got.every((g, i) => g.seq === i % 256),
    'NBIRTH 0, DBIRTH 1, then +1 mod 256 on every message, wrapping past 255',
  );
});
