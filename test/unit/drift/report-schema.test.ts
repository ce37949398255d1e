import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { driftReportJsonSchema } from '../../../agent/drift/index.js';
import { REPO } from '../../helpers/agent-process.js';
import { validate } from '../../helpers/json-schema.js';

const FILE = join(REPO, 'docs/drift-report.schema.json');

/** A report as CONTRACT section 3 shows it, with the fields this agent adds. */
const exampleReport = {
  schema: 1,
  agentId: 'cell-07',
  cameraId: 'cam-1',
  ts: 1763890000000,
  model: { id: 'washer', version: '3', sha256: 'ab'.repeat(32) },
  baseline: {
    id: '0190c3e1-0000-7000-8000-000000000000',
    builtAt: 1763800000000,
    frames: 4000,
    source: 'folder',
  },
  window: { index: 812, count: 500, from: 1763889000000, to: 1763890000000 },
  status: 'ok',
  statistics: [
    {
      name: 'brightness',
      group: 'input',
      value: 118.2,
      reference: 121.0,
      test: 'psi',
      score: 0.03,
      threshold: 0.21,
      breach: false,
    },
    {
      name: 'ngRate',
      group: 'ngRate',
      value: 0.02,
      reference: 0.018,
      test: 'p-chart',
      score: 0.4,
      threshold: 3.9,
      breach: false,
      rules: [],
    },
  ],
  outcomes: {
    count: 41,
    accuracy: 0.95,
    precisionNg: 1,
    recallNg: 0.5,
    confusion: {
      OK: { OK: 37, NG: 0, UNCERTAIN: 1, ERROR: 0 },
      NG: { OK: 1, NG: 2, UNCERTAIN: 0, ERROR: 0 },
    },
  },
  alerts: [],
  means: { brightness: 118.2, anomalyScore: null },
  unfitFrames: 0,
  calibration: { windowSeconds: 250, windowsPerPeriod: 10368, pDistribution: 0.00017, chartArl: 580000 },
};

t.test(
  'docs/drift-report.schema.json is the schema the agent publishes (UPDATE_SCHEMAS=1 rewrites it)',
  async (t) => {
    const generated = `${JSON.stringify(driftReportJsonSchema(), null, 2)}\n`;
    if (process.env.UPDATE_SCHEMAS === '1') writeFileSync(FILE, generated);
    t.equal(readFileSync(FILE, 'utf8'), generated);
  },
);

t.test("the contract's report validates; broken ones do not, with the reason", async (t) => {
  const schema = JSON.parse(readFileSync(FILE, 'utf8'));
  t.same(validate(schema, exampleReport), []);
  t.same(validate(schema, { ...exampleReport, baseline: null, status: 'no-baseline', statistics: [] }), []);
  const { alerts: _, ...noAlerts } = exampleReport;
  t.match(validate(schema, noAlerts), ['/: missing required property "alerts"']);
  t.match(validate(schema, { ...exampleReport, status: 'fine' }), [/\/status: "fine" is not one of/]);
  t.match(validate(schema, { ...exampleReport, window: { ...exampleReport.window, count: -1 } }), [
    '/window/count: -1 < 0',
  ]);
  t.match(validate(schema, { ...exampleReport, extra: 1 }), ['/: property "extra" is not allowed']);
  t.match(
    validate(schema, { ...exampleReport, statistics: [{ ...exampleReport.statistics[0], score: 'high' }] }),
    ['/statistics/0/score: expected number, got string'],
  );
});
