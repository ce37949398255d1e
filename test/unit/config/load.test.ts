import t from 'tap';
import { ConfigError, configJsonSchema, parseConfigText, topicRootOf } from '../../../agent/config/index.js';

const minimal = `agent: { id: cell-1 }
models: [{ id: washer, path: models/washer/model.onnx }]
cameras: [{ id: cam-1, source: { type: synthetic }, trigger: { type: continuous }, model: washer }]
`;

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(text, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('config was accepted');
}

t.test('a minimal config gets its defaults and is frozen', async (t) => {
  const config = parseConfigText(minimal, 'test.yaml', {});
  t.equal(config.store.path, './data/agent.db');
  t.equal(config.mqtt.url, 'mqtt://localhost:1883');
  t.equal(config.mqtt.format, 'json');
  t.same(config.models[0]?.providers, ['cpu']);
  t.equal(config.cameras[0]?.deadlineMs, 1000);
  t.equal(config.cameras[0]?.rules.minScore, 0.5);
  t.ok(Object.isFrozen(config.cameras[0]?.rules), 'nested objects are frozen');
  t.throws(() => {
    (config.agent as { id: string }).id = 'x';
  });
});

t.test('three mistakes are all reported, each with its key path and line', async (t) => {
  const problems = problemsOf(`agent:
  id: cell-1
models:
  - id: washer
    path: m.onnx
cameras:
  - id: cam-1
    source: { type: folder, path: ./in }
    trigger: { type: interval, fps: 0 }
    model: washer
    colour: red
health:
  listen: nowhere
`);
  t.same(
    problems.map((p) => [p.path, p.line]),
    [
      ['cameras[0].trigger.fps', 9],
      ['cameras[0].colour', 11],
      ['health.listen', 13],
    ],
  );
  t.match(problems[1]?.message, /unknown key/);
  t.match(problems[2]?.message, /HOST:PORT/);
});

t.test('references, duplicates and ranges across keys are checked with the schema errors', async (t) => {
  const problems = problemsOf(`agent: { id: "has space" }
models: [{ id: m, path: a.onnx }, { id: m, path: b.onnx }]
cameras:
  - { id: c, source: { type: gige, url: x }, trigger: { type: continuous }, model: nope }
  - { id: c, source: { type: synthetic }, trigger: { type: continuous }, model: m, rules: { minScore: 0.3, uncertainBelow: 0.6 } }
`);
  const paths = problems.map((p) => p.path);
  t.ok(paths.includes('agent.id'), 'bad id pattern');
  t.ok(paths.includes('models[1].id'), 'duplicate model id');
  t.ok(paths.includes('cameras[0].source.type'), 'unsupported source type');
  t.ok(paths.includes('cameras[0].model'), 'unknown model reference');
  t.ok(paths.includes('cameras[1].id'), 'duplicate camera id');
  t.ok(paths.includes('cameras[1].rules.uncertainBelow'), 'uncertainBelow above minScore');
});

t.test('environment references are substituted; an unset variable is an error with its path', async (t) => {
  const text = `${minimal}mqtt:\n  url: "mqtt://\${BROKER_HOST}:1883"\n  username: \${MQTT_USER}\n`;
  const config = parseConfigText(text, 'test.yaml', { BROKER_HOST: 'broker.plant', MQTT_USER: 'line3' });
  t.equal(config.mqtt.url, 'mqtt://broker.plant:1883');
  t.equal(config.mqtt.username, 'line3');
  const problems = problemsOf(text, { BROKER_HOST: 'b' });
  t.same(
    problems.map((p) => p.path),
    ['mqtt.username'],
  );
  t.match(problems[0]?.message, /MQTT_USER is not set/);
});

t.test('missing required sections and YAML syntax errors are reported', async (t) => {
  const problems = problemsOf('agent: { id: a }\n');
  t.same(problems.map((p) => p.path).sort(), ['cameras', 'models']);
  const syntax = problemsOf('agent: { id: a\nmodels: [');
  t.match(syntax[0]?.message, /YAML/);
});

t.test('the topic root is built from the site unless given', async (t) => {
  const withSite = parseConfigText(
    minimal.replace(
      'agent: { id: cell-1 }',
      'agent: { id: cell-1, site: { enterprise: acme, site: p1, area: asm, line: l3 } }',
    ),
    'x',
    {},
  );
  t.equal(topicRootOf(withSite), 'acme/p1/asm/l3/edge/cell-1');
  const given = parseConfigText(`${minimal}mqtt: { topicRoot: a/b }\n`, 'x', {});
  t.equal(topicRootOf(given), 'a/b');
});

t.test('the JSON Schema is published', async (t) => {
  const schema = configJsonSchema() as { properties: Record<string, unknown>; required: string[] };
  t.ok(schema.properties.cameras);
  t.same([...schema.required].sort(), ['agent', 'cameras', 'models']);
});
