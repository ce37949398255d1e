import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import {
  BIN,
  REPO,
  SAMPLES,
  spawnAgent,
  tempDir,
  WASHER_MODEL,
  writeConfig,
} from '../helpers/agent-process.js';
import { collect, startMosquitto } from '../helpers/brokers.js';
import { validate } from '../helpers/json-schema.js';
import { freePort, waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

const schema = JSON.parse(readFileSync(join(REPO, 'docs/drift-report.schema.json'), 'utf8'));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test(
  'baseline build from commissioning images, then a line whose light failed: schema-valid R/drift reports, DRIFT_INPUT and CAMERA_UNFIT on R/alerts, gated verdicts',
  async (t) => {
    if (!requireTool(t, 'mosquitto', 'the drift end-to-end test publishes to a real broker')) return;
    const dir = tempDir('eva-drift-e2e-');
    // the line: the same parts under a light at a quarter of its power
    const line = join(dir, 'line');
    mkdirSync(line);
    for (const f of readdirSync(SAMPLES).filter((n) => n.endsWith('.jpg'))) {
      await sharp(join(SAMPLES, f)).linear(0.25, 0).jpeg({ quality: 90 }).toFile(join(line, f));
    }
    const broker = await startMosquitto();
    t.teardown(() => broker.stop());
    const httpPort = await freePort();
    const config = writeConfig(
      dir,
      `agent: { id: e2e-drift }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/drift, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:${httpPort}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${line}, loop: true, pollMs: 20 }, trigger: { type: interval, fps: 15 }, model: washer, deadlineMs: 3000 }
drift: { window: 20, minDecisions: 10, gate: true, falseAlarmEvery: 30d, schedule: "*/2 * * * * *" }
`,
    );

    // commissioning: the good frames, through the camera's model
    const unknown = cli(['baseline', 'build', '-c', config, '--camera', 'cam-9', '--from', SAMPLES]);
    t.equal(unknown.code, 1, 'an unknown camera fails');
    t.match(unknown.stderr, /unknown camera "cam-9"; known: cam-1/);
    const empty = cli([
      'baseline',
      'build',
      '-c',
      config,
      '--camera',
      'cam-1',
      '--from',
      join(dir, 'nowhere'),
    ]);
    t.equal(empty.code, 1);
    t.match(empty.stderr, /cannot read .*nowhere/);
    const built = cli(['baseline', 'build', '-c', config, '--camera', 'cam-1', '--from', SAMPLES]);
    t.equal(built.code, 0, built.stderr);
    t.match(built.stdout, /baseline \S+ for camera cam-1, model washer version 1/);
    t.match(built.stdout, /36 frames \(0 skipped\)/);
    t.match(built.stderr, /baseline: 36\/36 images/, 'progress on stderr (a line per tenth off a terminal)');

    const sub = await collect(broker.url, 't/drift/#');
    t.teardown(() => sub.end());
    const agent = spawnAgent(['run', '-c', config]);
    t.teardown(() => agent.stop('SIGKILL'));

    const alertOf = (code: string) =>
      sub.messages.find(
        (m) => m.topic === 't/drift/alerts' && m.json().code === code && m.json().active === true,
      );
    await waitFor(
      () => alertOf('DRIFT_INPUT') && alertOf('CAMERA_UNFIT'),
      60_000,
      'DRIFT_INPUT and CAMERA_UNFIT',
    );
    t.match(alertOf('CAMERA_UNFIT')?.json(), {
      severity: 'critical',
      cameraId: 'cam-1',
      message: /unfit to judge: image too dark: brightness \d+ vs baseline \d+-\d+/,
    });
    t.match(alertOf('DRIFT_INPUT')?.json(), {
      severity: 'warning',
      cameraId: 'cam-1',
      message: /brightness/,
    });

    const reports = sub.messages.filter((m) => m.topic === 't/drift/drift/cam-1');
    t.ok(reports.length >= 2, `${reports.length} window reports`);
    for (const r of reports) {
      const body = r.json() as { window: { index: number } };
      t.same(validate(schema, body), [], `report ${body.window.index} fits the schema`);
    }
    const drifting = await waitFor(
      () => sub.messages.find((m) => m.topic === 't/drift/drift/cam-1' && m.json().status === 'drift'),
      20_000,
      'a report with status drift',
    );
    t.match(drifting.json(), { agentId: 'e2e-drift', baseline: { frames: 36, source: 'folder' } });
    t.ok((drifting.json() as { alerts: string[] }).alerts.includes('DRIFT_INPUT'));

    // verdicts on frames the model cannot judge are not a confident OK
    const decisions = sub.messages.filter((m) => m.topic === 't/drift/decisions/cam-1').map((m) => m.json());
    const gated = decisions.filter((d) => d.degraded === true);
    t.ok(gated.length > 0, `${gated.length} of ${decisions.length} verdicts gated`);
    t.ok(
      gated.every(
        (d) => d.verdict === 'UNCERTAIN' && /^unfit to judge: image too dark/.test(String(d.reason)),
      ),
      'gated verdicts are UNCERTAIN with the reason',
    );

    // the schedule republishes the latest report; the HTTP view agrees
    const api = (await (await fetch(`http://127.0.0.1:${httpPort}/api/drift`)).json()) as {
      cameras: { alerts: string[]; unfit: string | null; history: unknown[] }[];
    };
    t.ok(api.cameras[0]?.alerts.includes('CAMERA_UNFIT'));
    t.match(api.cameras[0]?.unfit, /image too dark/);
    t.ok((api.cameras[0]?.history.length ?? 0) >= 2);

    t.equal(await agent.stop('SIGTERM'), 0, 'a clean stop');
  },
);
