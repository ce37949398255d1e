import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { type Decision, judge } from '../../agent/decision/index.js';
import { agentHttp } from '../helpers/agent-http.js';
import { BIN, SAMPLES, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/brokers.js';
import { sampleLabels } from '../helpers/fixtures.js';
import { labelSwappedWasherVersion } from '../helpers/model-edits.js';
import { freePort, waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

const TOKEN = 'e2e-dataset-token';
const RULES = { ngClasses: ['scratch', 'dent'], minScore: 0.5, uncertainBelow: 0.2 };

/** Runs the built binary to its end; stdout, stderr and the exit status. */
function edgeAgent(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Item {
  file: string;
  decisionId: string;
  verdict: string;
  label: 'OK' | 'NG' | null;
  labelSource: string | null;
  verified: boolean;
  class?: string;
  result: { task: 'classification'; scores: Record<string, number> };
}

t.test(
  'decisions, outcomes and overrides -> export -> unzip -> model validate of a changed model',
  async (t) => {
    if (!requireTool(t, 'mosquitto', 'the agent runs against a real broker')) return;
    if (!requireTool(t, 'mosquitto_pub', 'outcomes are sent over MQTT as a plant would')) return;
    if (!requireTool(t, 'unzip', 'the archive is unpacked as a training machine would')) return;
    const broker = await startMosquitto();
    t.teardown(() => broker.stop());
    const dir = tempDir();
    const httpPort = await freePort();
    const config = writeConfig(
      dir,
      `agent: { id: e2e-dataset }
store: { path: ${dir}/agent.db, keepOkImageEvery: 1 }
mqtt: { url: "${broker.url}", topicRoot: t/ds }
health: { listen: "127.0.0.1:${httpPort}", token: ${TOKEN} }
models: [{ id: washer, path: ${WASHER_MODEL}, intraOpThreads: 1 }]
cameras:
  - id: cam-1
    source: { type: folder, path: ${SAMPLES}, loop: false }
    trigger: { type: interval, fps: 10 }
    model: washer
    deadlineMs: 10000
    rules: ${JSON.stringify(RULES)}
`,
    );
    const http = agentHttp(httpPort);
    const agent = spawnAgent(['run', '-c', config]);
    t.teardown(() => agent.stop('SIGKILL'));
    const truth = new Map(
      sampleLabels().map(([file, label]) => [
        createHash('sha256')
          .update(readFileSync(join(SAMPLES, file)))
          .digest('hex'),
        label === 'ok' ? 'OK' : 'NG',
      ]),
    );
    await waitFor(
      async () => ((await http.status())?.store.lastSeq ?? 0) >= truth.size,
      60_000,
      'every sample judged',
    );
    const decisions = (await http.decisions('?limit=100')) as Decision[];
    t.equal(decisions.length, truth.size);

    // ground truth for 24 parts (18 over HTTP, 6 over MQTT as a PLC or MES would), a person's say for 6 more
    const post = (name: string, body: unknown) =>
      fetch(`${http.base}/api/${name}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<{ status: string; error?: string }>);
    const actual = (d: Decision) => truth.get(d.image?.sha256 ?? '') as 'OK' | 'NG';
    for (const d of decisions.slice(0, 18)) {
      const r = await post('outcome', { decisionId: d.id, actual: actual(d), source: 're-inspection' });
      t.equal(r.status, 'ok', r.error ?? '');
    }
    for (const d of decisions.slice(18, 24)) {
      const pub = spawnSync('mosquitto_pub', [
        '-h',
        '127.0.0.1',
        '-p',
        String(broker.port),
        '-q',
        '1',
        '-t',
        't/ds/request/outcome',
        '-m',
        JSON.stringify({ decisionId: d.id, actual: actual(d) }),
      ]);
      t.equal(pub.status, 0);
    }
    for (const d of decisions.slice(24, 30)) {
      const r = await post('override', {
        decisionId: d.id,
        verdict: actual(d),
        user: 'QA',
        reason: 'checked by hand',
      });
      t.equal(r.status, 'ok', r.error ?? '');
    }
    await waitFor(
      async () => {
        const detail = await fetch(`${http.base}/api/decisions/${decisions[23]?.id}`).then((r) => r.json());
        return (detail as { outcomes: unknown[] }).outcomes.length === 1;
      },
      10_000,
      'the MQTT outcomes recorded',
    );

    // ground truth per version, in status and metrics
    const model = (await fetch(`${http.base}/api/status`).then((r) => r.json())) as {
      models: { accuracy: { active: Record<string, { outcomes: number; accuracy: number }> } }[];
    };
    t.equal(model.models[0]?.accuracy.active['1']?.outcomes, 24, 'status: version 1 scored on 24 outcomes');
    const metrics = await fetch(`${http.base}/metrics`).then((r) => r.text());
    t.match(metrics, /eva_model_accuracy\{model="washer",version="1",role="active"\} 0\.\d+/);
    t.match(metrics, /eva_model_outcomes\{model="washer",version="1",role="active"\} 24/);

    // the export over HTTP streams a valid archive while the agent runs
    const live = await fetch(`${http.base}/api/dataset/export?camera=cam-1`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    t.equal(live.status, 200);
    t.equal(live.headers.get('content-type'), 'application/zip');
    writeFileSync(join(dir, 'live.zip'), Buffer.from(await live.arrayBuffer()));
    t.equal(spawnSync('unzip', ['-tq', join(dir, 'live.zip')]).status, 0, 'the HTTP export unzips');
    const refused = await fetch(`${http.base}/api/dataset/export?camera=cam-1`);
    t.equal(refused.status, 401, 'no token, no frames');
    t.equal(await agent.stop(), 0);

    // the export from the command line, after the agent stopped
    const zipPath = join(dir, 'cam-1.zip');
    const exported = await edgeAgent([
      'dataset',
      'export',
      '-c',
      config,
      '--camera',
      'cam-1',
      '--since',
      '2020-01-01',
      '--out',
      zipPath,
    ]);
    t.equal(exported.code, 0, exported.stderr);
    t.match(
      exported.stdout,
      /36 frames \(30 labelled by ground truth, 6 by the verdict, 0 unlabelled\), classification layout/,
    );
    const out = join(dir, 'unpacked');
    const unzip = spawnSync('unzip', ['-q', zipPath, '-d', out], { encoding: 'utf8' });
    t.equal(unzip.status, 0, unzip.stderr);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
      layout: string;
      camera: string;
      models: Record<string, string[]>;
      rules: unknown;
      items: Item[];
    };
    t.match(manifest, { layout: 'imagefolder', camera: 'cam-1', models: { washer: ['1'] }, rules: RULES });
    t.equal(manifest.items.length, 36);
    const bySource = (s: string) => manifest.items.filter((i) => i.labelSource === s).length;
    t.same([bySource('outcome'), bySource('override'), bySource('verdict')], [24, 6, 6]);
    for (const item of manifest.items) {
      t.ok(existsSync(join(out, item.file)), `${item.file} unpacked`);
      const decision = decisions.find((d) => d.id === item.decisionId);
      if (item.verified) t.equal(item.label, decision && actual(decision), `${item.file}: the ground truth`);
      t.match(item.file, item.verified ? /^labelled\/(ok|scratch|dent)\// : /^unverified\//);
    }
    const folders = readdirSync(join(out, 'labelled')).sort();
    t.ok(
      folders.every((f) => ['dent', 'ok', 'scratch'].includes(f)),
      `ImageFolder classes: ${folders}`,
    );

    // the changed model: the washer with ok and dent swapped; its confusion matrix follows from the scores
    const candidate = labelSwappedWasherVersion('2');
    const expected = {
      OK: { OK: 0, NG: 0, UNCERTAIN: 0, ERROR: 0 },
      NG: { OK: 0, NG: 0, UNCERTAIN: 0, ERROR: 0 },
    };
    for (const item of manifest.items.filter((i) => i.verified && i.label)) {
      const s = item.result.scores;
      const swapped = { ok: s.dent ?? 0, scratch: s.scratch ?? 0, dent: s.ok ?? 0 };
      const verdict = judge({ task: 'classification', scores: swapped }, RULES, ['ok', 'scratch', 'dent'])
        .outcome.verdict as 'OK' | 'NG' | 'UNCERTAIN';
      expected[item.label as 'OK' | 'NG'][verdict]++;
    }
    const validated = await edgeAgent([
      'model',
      'validate',
      '--model',
      candidate,
      '--dataset',
      zipPath,
      '--json',
    ]);
    t.equal(validated.code, 1, 'exit 1: the changed model is worse than the line');
    const report = JSON.parse(validated.stdout) as {
      dataset: { used: number };
      candidate: { version: string; confusion: unknown; score: { accuracy: number } };
      line: { versions: string[]; score: { accuracy: number } };
    };
    t.equal(report.dataset.used, 30, 'the 30 frames with ground truth');
    t.equal(report.candidate.version, '2');
    t.same(report.candidate.confusion, expected, 'the expected confusion matrix');
    t.same(report.line.versions, ['1']);
    t.ok(report.candidate.score.accuracy < report.line.score.accuracy);
    const human = await edgeAgent([
      'model',
      'validate',
      '--model',
      join(WASHER_MODEL, '..'),
      '--dataset',
      zipPath,
    ]);
    t.equal(human.code, 0, `the line's own model is as good as the line: ${human.stdout}${human.stderr}`);
    t.match(human.stdout, /candidate washer version 1: accuracy \d+\.\d% on 30/);
  },
);
