import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, parseConfigText } from '../../../agent/config/index.js';
import { loadManifest } from '../../../agent/inference/index.js';
import { READ_LIMITS, readFileLimited } from '../../../agent/read-limited.js';
import { tempDir } from '../../helpers/agent-process.js';

/**
 * Reliability issue #16, failure 9: configs that crashed `check` with a stack trace (exit 1) instead of being
 * reported as bad config (exit 78), or that took unbounded memory or time. Each must come back as a
 * ConfigError naming what is wrong.
 */

const base = `agent: { id: cell-1 }
models: [{ id: washer, path: models/washer/model.onnx }]
cameras: [{ id: cam-1, source: { type: synthetic }, trigger: { type: continuous }, model: washer }]
`;

function configError(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfigText(text, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('config was accepted');
}

t.test('a YAML alias bomb is refused before it expands', async (t) => {
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  const err = configError(`${levels.join('\n')}\n${base}`);
  t.match(err.problems[0]?.message, /aliases expand too much.*alias bomb/);
});

t.test('an alias with no anchor is a problem with its line', async (t) => {
  const err = configError(`${base}drift: *nope\n`);
  t.match(err.problems[0], { line: 4, message: /alias \*nope has no anchor/ });
});

t.test('an anchor used inside itself is a cycle, reported with its line', async (t) => {
  const err = configError(`${base}drift: &x { schedule: "* * * * *", window: *x }\n`);
  t.match(err.problems[0], { line: 4, message: /alias \*x is used inside its own anchor/ });
});

t.test('a path at a device or of the wrong kind is a config problem', async (t) => {
  const dir = tempDir('eva-kind-');
  mkdirSync(join(dir, 'a-dir'));
  writeFileSync(join(dir, 'a-file'), 'x');
  const err = configError(`agent: { id: cell-1 }
store: { path: ${join(dir, 'a-dir')} }
models:
  - id: washer
    path: /dev/urandom
    versionsDir: /dev/null
    inbox: ${join(dir, 'a-file')}
cameras: [{ id: cam-1, source: { type: synthetic }, trigger: { type: continuous }, model: washer }]
`);
  t.same(
    err.problems.map((p) => [p.path, p.line]),
    [
      ['store.path', 2],
      ['models[0].path', 5],
      ['models[0].versionsDir', 6],
      ['models[0].inbox', 7],
    ],
  );
  t.match(err.problems[1]?.message, /\/dev\/urandom is a character device, not a file/);
  t.match(err.problems[2]?.message, /\/dev\/null is a character device, not a directory/);
});

t.test('a model or manifest at /dev/urandom is refused before a byte is read', async (t) => {
  t.throws(() => readFileLimited('/dev/urandom', READ_LIMITS.model, 'model file'), {
    message: /model file \/dev\/urandom is not a regular file \(a character device\)/,
  });
  t.throws(() => loadManifest('/dev/urandom'), { code: 'EVA_ERR_MODEL_LOAD', message: /not a regular file/ });
  t.throws(() => loadManifest('models/washer/model.onnx', '/dev/urandom'), {
    code: 'EVA_ERR_MODEL_MANIFEST',
    message: /manifest \/dev\/urandom is not a regular file/,
  });
  const big = join(tempDir('eva-big-'), 'manifest.yaml');
  writeFileSync(big, Buffer.alloc(READ_LIMITS.manifest + 1, 0x20));
  t.throws(() => loadManifest('models/washer/model.onnx', big), { message: /over the 1\.0 MiB limit/ });
});

t.test('20,000 unknown keys: a bounded report that counts the rest', async (t) => {
  let text = `${base}store:\n`;
  for (let i = 0; i < 20_000; i++) text += `  k${i}: 1\n`;
  const err = configError(text);
  t.equal(err.total, 20_000);
  t.equal(err.problems.length, 50, 'the first 50 are listed');
  t.match(err.problems[0], { path: 'store.k0', line: 5 });
  t.match(err.message, /20000 problem\(s\)/);
  t.match(err.message, /\.\.\. and 19950 more$/);
  t.ok(err.message.length < 10_000, `the message stays short (${err.message.length} characters)`);
});

t.test('a key given twice is a problem (checked without yaml quadratic uniqueKeys)', async (t) => {
  const err = configError(`${base}store: { path: a.db, path: b.db }\n`);
  t.match(err.problems[0], { line: 4, message: /key "path" is given twice/ });
});

t.test('mqtt.topicRoot must be a topic name: no wildcards, no $, no empty levels', async (t) => {
  for (const root of ['acme/+/line', 'acme/#', '$SYS/x', '/acme', 'acme/']) {
    const err = configError(`${base}mqtt: { topicRoot: "${root}" }\n`);
    t.equal(err.problems[0]?.path, 'mqtt.topicRoot', root);
  }
  t.match(configError(`${base}mqtt: { topicRoot: "a/+/b" }\n`).problems[0]?.message, /wildcards/);
  t.doesNotThrow(() => parseConfigText(`${base}mqtt: { topicRoot: acme/plant-1/cell 7 }\n`, 'x', {}));
});

t.test('nesting past the depth bound is a problem, not a stack overflow', async (t) => {
  const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
  const err = configError(`${base}drift: ${deep}\n`);
  t.match(err.problems[0], { line: 4, message: /YAML nests too deeply to be read/ });
  const deepButParsed = configError(`${base}drift: ${'['.repeat(40)}${']'.repeat(40)}\n`);
  t.ok(deepButParsed.problems.some((p) => /nests deeper than 32 levels/.test(p.message)));
});
