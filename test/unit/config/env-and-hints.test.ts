// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the config's own ${ENV} syntax, written literally
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, parseConfigText } from '../../../agent/config/index.js';
import { tempDir } from '../../helpers/agent-process.js';

/** Issue #15: `${ENV}` typed by the schema, `${NAME:-default}`, `*_FILE` secrets, "did you mean", YAML lines. */

const base = `agent: { id: cell-1 }
models: [{ id: washer, path: models/washer/model.onnx }]
`;
// block style: inside a flow collection ({...}) a ${...} must be quoted, as YAML reads { as a collection
const camera = (extra: string) => `cameras:
  - id: cam-1
    source: { type: synthetic }
    trigger: { type: interval, fps: 2 }
    model: washer
${extra}`;

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(text, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('config was accepted');
}

t.test('a whole-value ${ENV} fills a number or a boolean where the schema wants one', async (t) => {
  const text = `${base}${camera('    deadlineMs: ${DEADLINE}\n    enabled: ${CAM_ON}\n')}store: { maxDiskMB: "\${DISK_MB}" }
mqtt:
  username: \${MQTT_USER}
  sparkplug: { groupId: g, ddataQos: "\${QOS}" }
  format: both
`;
  const config = parseConfigText(text, 'x', {
    DEADLINE: '250',
    CAM_ON: 'false',
    DISK_MB: '4096',
    MQTT_USER: '1234',
    QOS: '0',
  });
  t.equal(config.cameras[0]?.deadlineMs, 250);
  t.equal(config.cameras[0]?.enabled, false);
  t.equal(config.store.maxDiskMB, 4096);
  t.equal(config.mqtt.username, '1234', 'a string key stays a string, even when it looks like a number');
  t.equal(config.mqtt.sparkplug?.ddataQos, 0);
  const bad = problemsOf(`${base}${camera('    deadlineMs: ${DEADLINE}\n')}`, { DEADLINE: 'soon' });
  t.equal(bad[0]?.path, 'cameras[0].deadlineMs');
  t.match(bad[0]?.message, /expected number.*from \$\{DEADLINE\} = "soon"/);
});

t.test('${NAME:-default} takes the default when NAME is unset or empty', async (t) => {
  const text = `${base}${camera('    deadlineMs: ${DEADLINE:-300}\n')}mqtt: { url: "mqtt://\${HOST:-localhost}:1883" }\n`;
  const unset = parseConfigText(text, 'x', {});
  t.equal(unset.cameras[0]?.deadlineMs, 300);
  t.equal(unset.mqtt.url, 'mqtt://localhost:1883');
  t.equal(parseConfigText(text, 'x', { HOST: '' }).mqtt.url, 'mqtt://localhost:1883');
  t.equal(parseConfigText(text, 'x', { HOST: 'b1', DEADLINE: '90' }).mqtt.url, 'mqtt://b1:1883');
});

t.test(
  'NAME_FILE supplies a secret from a file; both set, or an unreadable file, is a problem',
  async (t) => {
    const dir = tempDir('eva-secret-');
    const secret = join(dir, 'password');
    writeFileSync(secret, 's3cret\n');
    const text = `${base}${camera('')}mqtt: { password: "\${MQTT_PASSWORD}" }\n`;
    t.equal(parseConfigText(text, 'x', { MQTT_PASSWORD_FILE: secret }).mqtt.password, 's3cret');
    t.match(
      problemsOf(text, { MQTT_PASSWORD: 'a', MQTT_PASSWORD_FILE: secret })[0]?.message,
      /both MQTT_PASSWORD and MQTT_PASSWORD_FILE/,
    );
    t.match(problemsOf(text, { MQTT_PASSWORD_FILE: join(dir, 'none') })[0]?.message, /no such file/);
    t.match(problemsOf(text, { MQTT_PASSWORD_FILE: '/dev/zero' })[0]?.message, /not a regular file/);
    t.match(problemsOf(text, {})[0]?.message, /MQTT_PASSWORD is not set.*or set MQTT_PASSWORD_FILE/);
  },
);

t.test('an unknown key gets "did you mean" from the keys allowed where it stands', async (t) => {
  const problems =
    problemsOf(`${base}${camera('    deadlineMS: 200\n')}mqtt: { urll: "mqtt://b:1883", formt: json }
store: { maxDiskMb: 10, zzzzzzzz: 1 }
`);
  const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
  t.match(byPath['cameras[0].deadlineMS'], /did you mean "deadlineMs"\?/);
  t.match(byPath['mqtt.urll'], /did you mean "url"\?/);
  t.match(byPath['mqtt.formt'], /did you mean "format"\?/);
  t.match(byPath['store.maxDiskMb'], /did you mean "maxDiskMB"\?/);
  t.match(byPath['store.zzzzzzzz'], /unknown key \(allowed here: path, imagesDir, maxDiskMB/);
  // a misspelt key whose value comes from the environment is still a misspelt key
  const fromEnv = problemsOf(`${base}${camera('    deadlineMS: ${DEADLINE:-500}\n')}`);
  t.match(fromEnv[0], { path: 'cameras[0].deadlineMS', message: 'unknown key; did you mean "deadlineMs"?' });
  // inside a discriminated union, the keys of the option the document chose
  const source = problemsOf(
    `${base}cameras: [{ id: c, source: { type: folder, pth: ./x }, trigger: { type: continuous }, model: washer }]\n`,
  );
  t.match(source.find((p) => p.path === 'cameras[0].source.pth')?.message, /did you mean "path"\?/);
});

t.test('YAML syntax errors carry their line', async (t) => {
  const tabs = problemsOf(`${base}${camera('')}mqtt:\n\turl: x\n`);
  t.match(tabs[0], { line: 9, message: /Tabs are not allowed/ });
  const flow = problemsOf(`${base}${camera('')}mqtt:\n  url: [unclosed\n`);
  t.match(flow[0], { line: 10, message: /YAML/ });
});
