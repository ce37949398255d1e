import t from 'tap';
import { ConfigError, parseConfigText } from '../../../agent/config/index.js';

const base = (mqtt: string) => `agent: { id: cell-1 }
mqtt: ${mqtt}
models: [{ id: washer, path: models/washer/model.onnx }]
cameras: [{ id: cam-1, source: { type: synthetic }, trigger: { type: continuous }, model: washer }]
`;

function problemsOf(text: string) {
  try {
    parseConfigText(text, 'test.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('config was accepted');
}

t.test('delivery keys: defaults, ranges', async (t) => {
  const config = parseConfigText(base('{ url: "mqtt://b:1883" }'), 'test.yaml', {});
  t.equal(config.mqtt.backlogShare, 0.5);
  t.equal(config.mqtt.backlogRatePerSec, 0, 'unlimited by default');
  const set = parseConfigText(base('{ backlogShare: 0.2, backlogRatePerSec: 50 }'), 'test.yaml', {});
  t.equal(set.mqtt.backlogShare, 0.2);
  t.equal(set.mqtt.backlogRatePerSec, 50);
  t.match(JSON.stringify(problemsOf(base('{ backlogShare: 1.5 }'))), /mqtt\.backlogShare/);
  t.match(JSON.stringify(problemsOf(base('{ backlogRatePerSec: -1 }'))), /mqtt\.backlogRatePerSec/);
});

t.test('format sparkplug/both is accepted with a group and refused without one', async (t) => {
  for (const format of ['sparkplug', 'both']) {
    const config = parseConfigText(
      base(`{ format: ${format}, sparkplug: { groupId: plant-a } }`),
      'test.yaml',
      {},
    );
    t.equal(config.mqtt.sparkplug?.groupId, 'plant-a');
    t.match(JSON.stringify(problemsOf(base(`{ format: ${format} }`))), /mqtt\.sparkplug\.groupId.*required/);
  }
});
