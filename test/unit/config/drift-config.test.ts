import t from 'tap';
import { ConfigError, configJsonSchema, parseConfigText } from '../../../agent/config/index.js';

const base = `agent: { id: cell-07 }
models: [{ id: washer, path: models/washer/model.onnx }]
cameras:
  - { id: cam-1, source: { type: folder, path: ./samples/washer, loop: true }, trigger: { type: interval, fps: 2 }, model: washer }
`;

function problemsOf(text: string) {
  try {
    parseConfigText(text, 'test.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

// CONTRACT section 2's example, verbatim: it failed before drift was built (falseAlarmEvery was "unknown")
t.test("the contract's drift section validates, durations become milliseconds", async (t) => {
  const config = parseConfigText(
    `${base}drift:
  schedule: "*/1 * * * *"           # node-cron; when the latest window report is republished
  window: 500                       # decisions per window (a report at each window's end)
  falseAlarmEvery: 30d              # calibrate thresholds so a stable line alarms less often than this
  accuracyFloor: 0.9                # alert when accuracy on plant outcomes falls below (needs minOutcomes)
  gate: false                       # true: frames unfit to judge (blur, exposure) get a degraded UNCERTAIN
`,
    'test.yaml',
    {},
  );
  t.equal(config.drift?.falseAlarmEvery, 30 * 86_400_000);
  t.equal(config.drift?.accuracyFloor, 0.9);
  t.equal(config.drift?.gate, false);
  t.equal(config.drift?.maxWindowSeconds, 3600, 'default');
  t.equal(config.drift?.minDecisions, 30, 'default');
  t.equal(config.drift?.minOutcomes, 30, 'default');
  t.equal(config.drift?.baselineDecisions, 2000, 'default');
});

t.test('drift defaults, and no drift section means no drift', async (t) => {
  t.equal(parseConfigText(base, 'test.yaml', {}).drift, undefined);
  const d = parseConfigText(`${base}drift: {}\n`, 'test.yaml', {}).drift;
  t.match(d, { schedule: '*/1 * * * *', window: 500, falseAlarmEvery: 2_592_000_000, gate: false });
  t.equal(d?.accuracyFloor, undefined, 'no floor unless set: accuracy is reported, not alerted');
  t.equal(
    parseConfigText(`${base}drift: { falseAlarmEvery: 12h }\n`, 'test.yaml', {}).drift?.falseAlarmEvery,
    43_200_000,
  );
});

t.test('bad drift settings are reported with their key paths, all at once', async (t) => {
  const problems = problemsOf(
    `${base}drift: { schedule: "every minute", falseAlarmEvery: 30 days, accuracyFloor: 1.5, window: 5, colour: red }\n`,
  );
  const paths = problems.map((p) => p.path);
  t.ok(paths.includes('drift.schedule'), 'cron expression');
  t.ok(paths.includes('drift.falseAlarmEvery'), 'duration');
  t.ok(paths.includes('drift.accuracyFloor'), 'a share');
  t.ok(paths.includes('drift.window'), 'too small a window');
  t.ok(
    problems.some((p) => /colour/.test(p.message) || p.path.includes('colour')),
    'unknown key',
  );
  t.match(problems.find((p) => p.path === 'drift.falseAlarmEvery')?.message, /duration like 30d/);
  const min = problemsOf(`${base}drift: { window: 50, minDecisions: 80 }\n`);
  t.ok(
    min.some((p) => p.path === 'drift.minDecisions'),
    'minDecisions above the window',
  );
});

t.test('the JSON Schema for editors still renders with the drift section', async (t) => {
  const schema = JSON.stringify(configJsonSchema());
  t.match(schema, /falseAlarmEvery/);
  t.match(schema, /baselineDecisions/);
});
