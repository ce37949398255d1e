import { join } from 'node:path';
import mqtt from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import t from 'tap';
import type { DriftReport } from '../../../agent/drift/index.js';
import { systemClock } from '../../../agent/service.js';
import { DEVICE_METRICS, DRIFT_METRICS, SparkplugChannel } from '../../../agent/sync/sparkplug/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { startMosquitto } from '../../helpers/brokers.js';
import { quietLog } from '../../helpers/fixtures.js';
import { waitFor } from '../../helpers/net.js';
import { requireTool } from '../../helpers/tools.js';

const codec = sparkplugPayload.get('spBv1.0');
if (!codec) throw new Error('no spBv1.0 codec');

const report: DriftReport = {
  schema: 1,
  agentId: 'cell-7',
  cameraId: 'cam-1',
  ts: 1_763_890_000_000,
  model: { id: 'washer', version: '1', sha256: 'ab' },
  baseline: { id: 'b-1', builtAt: 1_763_800_000_000, frames: 4000 },
  window: { index: 7, count: 500, from: 1_763_889_000_000, to: 1_763_890_000_000 },
  status: 'drift',
  statistics: [
    {
      name: 'sharpness',
      group: 'input',
      value: 90,
      reference: 290,
      test: 'psi',
      score: 2.1,
      threshold: 0.3,
      breach: true,
    },
    {
      name: 'brightness',
      group: 'input',
      value: 96,
      reference: 96,
      test: 'psi',
      score: 0.01,
      threshold: 0.3,
      breach: false,
    },
  ],
  alerts: ['DRIFT_INPUT'],
  means: { sharpness: 90, brightness: 96, ngRate: 0.04 },
};

t.test(
  'with drift configured, DBIRTH carries the Drift/... metrics and each report goes out as DDATA',
  async (t) => {
    if (!requireTool(t, 'mosquitto', 'the Sparkplug tests need a real MQTT broker')) return;
    const broker = await startMosquitto();
    t.teardown(() => broker.stop());
    const seen: { topic: string; metrics: { name: string; value: unknown; timestamp: number }[] }[] = [];
    const host = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    t.teardown(() => host.endAsync());
    host.on('message', (topic, payload) => {
      const p = codec.decodePayload(payload);
      seen.push({
        topic,
        metrics: (p.metrics ?? []).map((m) => ({
          name: m.name ?? '',
          value: typeof m.value === 'object' && m.value !== null ? Number(m.value) : m.value,
          timestamp: Number(m.timestamp),
        })),
      });
    });
    await host.subscribeAsync('spBv1.0/plant-a/+/cell-7/#', { qos: 1 });
    const node = new SparkplugChannel(
      {
        url: broker.url,
        groupId: 'plant-a',
        edgeNodeId: 'cell-7',
        deviceIds: ['cam-1'],
        bdSeqFile: join(tempDir('eva-spb-'), 'bdseq'),
        driftMetrics: true,
        reconnectMinMs: 50,
      },
      { clock: systemClock, log: quietLog },
    );
    t.teardown(() => node.stop());
    await node.start(new AbortController().signal);
    await waitFor(() => node.connected && seen.some((m) => m.topic.includes('DBIRTH')), 10_000, 'births');
    const birth = seen.find((m) => m.topic.endsWith('DBIRTH/cell-7/cam-1'));
    t.same(
      birth?.metrics.map((m) => m.name),
      [...DEVICE_METRICS, ...DRIFT_METRICS].map((m) => m.name),
      'every metric the device will send is born',
    );

    await node.publishDrift(report);
    const data = await waitFor(
      () => seen.find((m) => m.topic.endsWith('DDATA/cell-7/cam-1')),
      5_000,
      'drift DDATA',
    );
    const value = (name: string) => data.metrics.find((m) => m.name === name)?.value;
    t.equal(value('Drift/Status'), 'drift');
    t.equal(value('Drift/Window'), 7);
    t.equal(value('Drift/Alerts'), 'DRIFT_INPUT');
    t.equal(value('Drift/sharpness/Value'), 90);
    t.equal(value('Drift/sharpness/Breach'), true);
    t.equal(value('Drift/brightness/Breach'), false);
    t.equal(value('Drift/NgRate'), 0.04);
    t.same(JSON.parse(String(value('Drift/Report'))), report);
    t.ok(
      data.metrics.every((m) => m.timestamp === report.ts),
      "stamped with the report's time",
    );
    t.same(
      data.metrics.map((m) => m.name),
      DRIFT_METRICS.map((m) => m.name),
      'only drift metrics in a drift DDATA',
    );
  },
);
