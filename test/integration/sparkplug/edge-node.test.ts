import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import sparkplugPayload from 'sparkplug-payload';
import t, { type Test } from 'tap';
import { composeDecision } from '../../../agent/decision/index.js';
import { systemClock } from '../../../agent/service.js';
import {
  DEVICE_METRICS,
  SparkplugChannel,
  type SparkplugOptions,
} from '../../../agent/sync/sparkplug/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { startMosquitto, type TestBroker } from '../../helpers/brokers.js';
import { draft } from '../../helpers/fixtures.js';
import { freePort, waitFor } from '../../helpers/net.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';
import { requireTool } from '../../helpers/tools.js';

const codec = sparkplugPayload.get('spBv1.0');
if (!codec) throw new Error('no spBv1.0 codec');
const G = 'spBv1.0/plant-a';

interface Msg {
  topic: string;
  kind: string;
  device?: string;
  seq?: number;
  timestamp?: number;
  metrics: { name: string; type: string; value: unknown; timestamp?: number; isHistorical?: boolean }[];
}

// uint64 fields decode as Long objects: numbers are easier to compare
const num = (v: unknown) => (v === undefined || v === null ? undefined : Number(v));

/** Records and decodes everything the edge node publishes (a host's view). */
async function watch(t: Test, url: string) {
  const msgs: Msg[] = [];
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `host-${Math.random()}` });
  client.on('message', (topic, payload) => {
    const [, , kind = '', , device] = topic.split('/');
    if (kind.endsWith('CMD')) return; // the host's own commands
    const p = codec?.decodePayload(payload) ?? {};
    msgs.push({
      topic,
      kind,
      ...(device ? { device } : {}),
      seq: num(p.seq),
      timestamp: num(p.timestamp),
      metrics: (p.metrics ?? []).map((m) => ({
        name: m.name ?? '',
        type: m.type,
        value: typeof m.value === 'object' && m.value !== null ? Number(m.value) : m.value,
        timestamp: num(m.timestamp),
        ...(m.isHistorical ? { isHistorical: true } : {}),
      })),
    });
  });
  await client.subscribeAsync(`${G}/#`, { qos: 1 });
  t.teardown(() => client.endAsync());
  const of = (kind: string) => msgs.filter((m) => m.kind === kind);
  const metric = (m: Msg | undefined, name: string) => m?.metrics.find((x) => x.name === name)?.value;
  return { msgs, client, of, metric };
}

function channel(t: Test, url: string, over: Partial<SparkplugOptions> = {}) {
  // every log line, debug included, so a test can prove credentials never reach them
  const logs: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => logs.push(line) });
  const node = new SparkplugChannel(
    {
      url,
      clientId: 'cell-7',
      groupId: 'plant-a',
      edgeNodeId: 'cell-7',
      deviceIds: ['cam-1', 'cam-2'],
      bdSeqFile: join(tempDir('eva-spb-'), 'state', 'bdseq'),
      publishTimeoutMs: 3_000,
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
      ...over,
    },
    { clock: systemClock, log },
  );
  const events: string[] = [];
  node.onUp(() => events.push('up'));
  node.onDown(() => events.push('down'));
  t.teardown(() => node.stop());
  return { node, events, logs };
}

let seqNo = 0;
const decision = (cameraId = 'cam-1', partId?: string) =>
  composeDecision(draft({ cameraId, decidedAt: 1_763_890_000_000 + seqNo, ...(partId ? { partId } : {}) }), {
    id: `0190c3e1-${++seqNo}`,
    seq: seqNo,
    agentId: 'cell-7',
  });

let broker: TestBroker;
t.before(async () => {
  if (!requireTool(t, 'mosquitto', 'the Sparkplug tests need a real MQTT broker')) return;
  broker = await startMosquitto();
});
t.teardown(() => broker?.stop());

t.test('births, data, historical flag and a clean death', async (t) => {
  const host = await watch(t, broker.url);
  const { node, events } = channel(t, broker.url);
  await node.start(new AbortController().signal);
  await waitFor(() => node.connected && host.of('DBIRTH').length === 2, 10_000, 'births');
  t.same(events, ['up']);

  const [nbirth] = host.of('NBIRTH');
  t.equal(nbirth?.topic, `${G}/NBIRTH/cell-7`);
  t.equal(nbirth?.seq, 0, 'NBIRTH seq is 0');
  t.match(nbirth?.metrics, [
    { name: 'bdSeq', type: 'Int64', value: 0 },
    { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
  ]);
  const births = host.of('DBIRTH');
  t.same(
    births.map((m) => [m.topic, m.seq]),
    [
      [`${G}/DBIRTH/cell-7/cam-1`, 1],
      [`${G}/DBIRTH/cell-7/cam-2`, 2],
    ],
  );
  t.same(
    births[0]?.metrics.map((m) => [m.name, m.type]),
    DEVICE_METRICS.map((m) => [m.name, m.type]),
    'DBIRTH lists every device metric with its type',
  );

  const live = decision('cam-2', 'A-77812');
  await node.deliver(live, false);
  const old = decision('cam-1');
  await node.deliver(old, true);
  await waitFor(() => host.of('DDATA').length === 2, 5_000, 'DDATA');
  const [d1, d2] = host.of('DDATA');
  t.equal(d1?.topic, `${G}/DDATA/cell-7/cam-2`);
  t.equal(d1?.seq, 3);
  t.same(
    d1?.metrics.map((m) => m.name),
    DEVICE_METRICS.map((m) => m.name),
  );
  t.ok(
    d1?.metrics.every((m) => m.timestamp === live.decidedAt && !m.isHistorical),
    'live: decidedAt, not historical',
  );
  t.equal(host.metric(d1, 'Decision/Verdict'), 'OK');
  t.equal(host.metric(d1, 'Decision/Seq'), live.seq);
  t.equal(host.metric(d1, 'Decision/PartId'), 'A-77812');
  t.equal(host.metric(d1, 'Decision/Degraded'), false);
  t.equal(host.metric(d1, 'Decision/LatencyMs'), 2);
  t.same(JSON.parse(String(host.metric(d1, 'Decision/Json'))), { ...live, historical: false });
  t.equal(d2?.seq, 4);
  t.ok(
    d2?.metrics.every((m) => m.isHistorical === true && m.timestamp === old.decidedAt),
    'backlog: is_historical',
  );
  t.equal(host.metric(d2, 'Decision/PartId'), null, 'no part id: null metric');

  await node.stop();
  await waitFor(() => host.of('NDEATH').length === 1, 5_000, 'NDEATH');
  t.same(
    host.of('DDEATH').map((m) => [m.topic, m.seq]),
    [
      [`${G}/DDEATH/cell-7/cam-1`, 5],
      [`${G}/DDEATH/cell-7/cam-2`, 6],
    ],
  );
  const [ndeath] = host.of('NDEATH');
  t.equal(ndeath?.seq, undefined, 'NDEATH has no seq');
  t.match(ndeath?.metrics, [{ name: 'bdSeq', type: 'Int64', value: 0 }]);
  t.same(events, ['up', 'down']);
  await t.rejects(node.deliver(decision(), false), { code: 'EVA_ERR_MQTT_CONNECT' });
});

t.test(
  'bdSeq: the will NDEATH matches the NBIRTH, persisted and incremented across reconnects',
  async (t) => {
    const host = await watch(t, broker.url);
    const proxy = new TcpProxy(await freePort(), broker.port);
    await proxy.up();
    t.teardown(() => proxy.down());
    const file = join(tempDir('eva-spb-'), 'bdseq');
    writeFileSync(file, '254\n');
    const first = channel(t, `mqtt://spb:s3cret-url@127.0.0.1:${proxy.port}`, {
      bdSeqFile: file,
      username: 'spb',
      password: 's3cret-option',
    });
    await first.node.start(new AbortController().signal);
    await waitFor(() => first.node.connected && host.of('DBIRTH').length === 2, 10_000, 'first births');
    t.equal(host.metric(host.of('NBIRTH')[0], 'bdSeq'), 255, 'one past the persisted value');

    // the link dies without a DISCONNECT: the broker sends the will
    await proxy.down();
    await waitFor(() => host.of('NDEATH').length === 1, 10_000, 'will NDEATH');
    t.equal(host.metric(host.of('NDEATH')[0], 'bdSeq'), 255, 'the will carries the NBIRTH bdSeq');
    await waitFor(() => !first.node.connected, 5_000, 'down');
    await t.rejects(first.node.deliver(decision(), false), { code: 'EVA_ERR_MQTT_CONNECT' });

    await proxy.up();
    await waitFor(() => host.of('NBIRTH').length === 2, 10_000, 'birth after reconnect');
    const reborn = Number(host.metric(host.of('NBIRTH')[1], 'bdSeq'));
    t.ok(reborn >= 0 && reborn < 255, `bdSeq wrapped and moved on per CONNECT attempt (${reborn})`);
    t.equal(Number(readFileSync(file, 'utf8')), reborn, 'persisted before connecting');
    t.same(first.events, ['up', 'down', 'up']);
    await proxy.down();
    await waitFor(() => host.of('NDEATH').length === 2, 10_000, 'second will NDEATH');
    t.equal(host.metric(host.of('NDEATH')[1], 'bdSeq'), reborn, 'the will in force is the new one');
    await first.node.stop();
    t.ok(first.logs.length > 0, 'it logged');
    t.notOk(first.logs.join('').includes('s3cret'), 'no credentials in the logs');

    // a restart continues from the file
    const second = channel(t, broker.url, { bdSeqFile: file });
    await second.node.start(new AbortController().signal);
    await waitFor(() => host.of('NBIRTH').length === 3, 10_000, 'birth after restart');
    t.ok(Number(host.metric(host.of('NBIRTH')[2], 'bdSeq')) > reborn, 'restart: a bdSeq never used before');
    await second.node.stop();
  },
);

t.test('seq wraps past 255 without gaps; NCMD rebirth; unknown camera gets a DBIRTH; QoS 0', async (t) => {
  const host = await watch(t, broker.url);
  const { node, events } = channel(t, broker.url, { ddataQos: 0 });
  await node.start(new AbortController().signal);
  await waitFor(() => node.connected && host.of('DBIRTH').length === 2, 10_000, 'births');
  const bdSeq = host.metric(host.of('NBIRTH')[0], 'bdSeq');
  await Promise.all(
    Array.from({ length: 300 }, (_, i) => node.deliver(decision(i % 2 ? 'cam-2' : 'cam-1'), false)),
  );
  await waitFor(() => host.of('DDATA').length === 300, 10_000, '300 DDATA');
  const seqs = host.msgs.map((m) => m.seq);
  t.equal(seqs.length, 303);
  t.ok(
    seqs.every((s, i) => s === i % 256),
    'NBIRTH 0, DBIRTHs, then every DDATA +1 mod 256',
  );

  const rebirth = codec.encodePayload({
    timestamp: Date.now(),
    metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }],
  });
  await host.client.publishAsync(`${G}/NCMD/cell-7`, Buffer.from(rebirth), { qos: 1 });
  await waitFor(() => host.of('NBIRTH').length === 2 && host.of('DBIRTH').length === 4, 10_000, 'rebirth');
  const after = host.msgs.slice(303);
  t.same(
    after.map((m) => [m.kind, m.seq]),
    [
      ['NBIRTH', 0],
      ['DBIRTH', 1],
      ['DBIRTH', 2],
    ],
    'rebirth restarts seq at 0',
  );
  t.equal(host.metric(after[0], 'bdSeq'), bdSeq, 'a rebirth keeps the bdSeq');
  t.same(events, ['up'], 'a rebirth is not a reconnect');

  await node.deliver(decision('cam-9'), false);
  await waitFor(() => host.msgs.length === 308, 5_000, 'DBIRTH + DDATA for cam-9');
  t.same(
    host.msgs.slice(306).map((m) => [m.topic, m.seq]),
    [
      [`${G}/DBIRTH/cell-7/cam-9`, 3],
      [`${G}/DDATA/cell-7/cam-9`, 4],
    ],
  );
});
