import t from 'tap';
import { spawnAgent, tempDir, writeConfig } from '../helpers/agent-process.js';

const threeMistakes = `agent:
  id: cell 7
models:
  - id: washer
    path: models/washer/model.onnx
cameras:
  - id: cam-1
    source: { type: folder, path: ./samples/washer }
    trigger: { type: interval, fps: 2 }
    model: washer
    deadlineMs: -5
mqtt:
  url: http://broker:1883
`;

for (const command of ['run', 'check']) {
  t.test(
    `edge-agent ${command} with three mistakes prints all three with their key paths and exits 78`,
    async (t) => {
      const config = writeConfig(tempDir(), threeMistakes);
      const agent = spawnAgent([command, '-c', config]);
      t.equal(await agent.exited, 78);
      const out = agent.output();
      t.match(out, /3 problem\(s\)/);
      t.match(out, /agent\.id \(line 2\): must match/);
      t.match(out, /cameras\[0\]\.deadlineMs \(line 11\): Too small/);
      t.match(out, /mqtt\.url \(line 13\): must be an mqtt:\/\/ or mqtts:\/\/ URL/);
    },
  );
}

t.test('a missing config file is a config error too', async (t) => {
  const agent = spawnAgent(['run', '-c', '/nonexistent/agent.yaml']);
  t.equal(await agent.exited, 78);
  t.match(agent.output(), /cannot read the config file/);
});

t.test('-c defaults to $EDGE_AGENT_CONFIG', async (t) => {
  const config = writeConfig(tempDir(), threeMistakes);
  const agent = spawnAgent(['check'], { env: { EDGE_AGENT_CONFIG: config } });
  t.equal(await agent.exited, 78);
  t.match(agent.output(), new RegExp(config.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
});

t.test('config schema prints the JSON Schema', async (t) => {
  const agent = spawnAgent(['config', 'schema']);
  t.equal(await agent.exited, 0);
  const schema = JSON.parse(agent.output()) as { properties: Record<string, unknown> };
  t.ok(schema.properties.cameras && schema.properties.mqtt);
});
