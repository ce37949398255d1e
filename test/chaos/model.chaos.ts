import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { ModelRunner } from '../../agent/inference/index.js';
import { agentHttp } from '../helpers/agent-http.js';
import { SAMPLES, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { collect, startAedes } from '../helpers/brokers.js';
import { quietLog } from '../helpers/fixtures.js';
import { freePort, waitFor } from '../helpers/net.js';
import { buildModel, writeModel } from '../helpers/onnx-builder.js';
import { recordFigures, rng, scaled } from './chaos-lib.js';

// Scenario 5 (docs/reliability.md): a model file replaced by garbage (at start, and dropped into the inbox
// while running), a model whose outputs turn NaN on real frames, and a worker whose runs throw (the worker's
// test-only fault injection). ERROR verdicts with reasons, a readable status, never a crash.
const GARBAGE_INSTALLS = scaled(2, 10);
const RUNS = scaled(20, 200);
const TRIGGERS = scaled(5, 50);

const classifier = {
  id: 'nan',
  version: '1',
  task: 'classification',
  input: { width: 8, height: 8, resize: 'stretch' },
  outputs: [{ name: 'scores', role: 'scores' }],
  labels: ['ok', 'ng'],
};

t.test('garbage models at start and through the inbox, NaN outputs: ERROR verdicts, no crash', async (t) => {
  const random = rng();
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const sub = await collect(broker.url, 't/chaosmodel/decisions/#');
  const responses = await collect(broker.url, 't/chaosmodel/response/#');
  t.teardown(() => responses.end());
  t.teardown(() => sub.end());
  const dir = tempDir('eva-chaos-model-');
  // a copy of the washer model, then overwritten with garbage: what a bad copy or a half-written file is
  const garbageDir = join(dir, 'garbage');
  cpSync(dirname(WASHER_MODEL), garbageDir, { recursive: true });
  writeFileSync(join(garbageDir, 'model.onnx'), random.bytes(4096));
  const nanModel = writeModel(
    buildModel({
      input: { name: 'input', shape: [1, 3, 8, 8] },
      outputs: [{ name: 'scores', dims: [1, 2], values: [0.9, 0.1] }],
      nanOnRealInput: true,
    }),
    classifier,
  );
  const inbox = join(dir, 'inbox');
  mkdirSync(inbox);
  const httpPort = await freePort();
  const config = writeConfig(
    dir,
    `agent: { id: chaos-model }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/chaosmodel, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:${httpPort}" }
models:
  - { id: garbage, path: ${garbageDir}/model.onnx }
  - { id: nan, path: ${nanModel} }
  - { id: washer, path: ${WASHER_MODEL}, versionsDir: ${dir}/versions, inbox: ${inbox}, inboxPollMs: 200 }
cameras:
  - { id: cam-garbage, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: mqtt }, model: garbage }
  - { id: cam-nan, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: interval, fps: 5 }, model: nan }
  - { id: cam-good, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: interval, fps: 5 }, model: washer }
`,
  );
  const agent = spawnAgent(['run', '-c', config]);
  t.teardown(() => agent.stop('SIGKILL'));
  const http = agentHttp(httpPort);
  const status = await waitFor(
    async () => {
      const s = await http.status();
      return s && s.store.lastSeq >= 15 ? s : undefined;
    },
    90_000,
    'decisions from all three cameras',
  );
  t.match(
    status.models.find((m) => m.id === 'garbage'),
    { state: 'failed', error: /garbage|ONNX|model/ },
    'the garbage model failed with a reason',
  );
  // the garbage model's camera is visible as a problem; a requested trigger is answered with an ERROR
  t.ok(
    status.problems.some((p) => /garbage/.test(p.message)),
    `problems[] names it (${status.problems.map((p) => p.code).join(', ')})`,
  );
  for (let i = 0; i < TRIGGERS; i++) {
    await responses.client.publishAsync(
      't/chaosmodel/request/trigger',
      JSON.stringify({ camera: 'cam-garbage', transaction: `g-${i}` }),
      { qos: 1 },
    );
  }
  const answers = await waitFor(
    () => {
      const a = responses.messages.map((m) => m.json()).filter((r) => String(r.transaction).startsWith('g-'));
      return a.length >= TRIGGERS ? a : undefined;
    },
    30_000,
    'an answer to every trigger',
  );
  t.ok(
    answers.every((a) => (a.data as { verdict?: string } | undefined)?.verdict === 'ERROR'),
    `every trigger is answered with an ERROR decision (${JSON.stringify(answers[0]).slice(0, 200)})`,
  );
  const readyz = await fetch(`${http.base}/readyz`);
  t.equal(readyz.status, 503, '/readyz says the agent is not ready');
  t.match(JSON.stringify(await readyz.json()), /garbage/, 'and names the model');

  // garbage dropped into the inbox while running: refused, the running version keeps judging
  const before = status.models.find((m) => m.id === 'washer') as unknown as { version?: string };
  for (let i = 0; i < GARBAGE_INSTALLS; i++) {
    const folder = join(inbox, `bad-${i}`);
    mkdirSync(`${folder}.tmp`);
    cpSync(dirname(WASHER_MODEL), `${folder}.tmp`, { recursive: true });
    const good = readFileSync(join(`${folder}.tmp`, 'model.onnx'));
    // half garbage, half a truncated model: both are what a broken copy looks like
    writeFileSync(
      join(`${folder}.tmp`, 'model.onnx'),
      i % 2 === 0 ? random.bytes(2048) : good.subarray(0, random.int(16, good.length - 1)),
    );
    cpSync(`${folder}.tmp`, folder, { recursive: true });
    await agent.waitForLog(
      (l) => l.msg === 'model version from the inbox refused' && String(l.folder).includes(`bad-${i}`),
      60_000,
    );
  }
  const after = await http.status();
  t.same(
    (after?.models.find((m) => m.id === 'washer') as unknown as { version?: string })?.version,
    before?.version,
    'the running washer version is unchanged',
  );
  t.equal(agent.proc.exitCode, null, 'the agent is still running');
  t.equal(await agent.stop('SIGTERM'), 0, 'a clean stop');

  const decisions = sub.messages.map(
    (m) => m.json() as { cameraId: string; verdict: string; reason: string },
  );
  const byCam = (id: string) => decisions.filter((d) => d.cameraId === id);
  t.equal(
    byCam('cam-garbage').length,
    TRIGGERS,
    'every trigger of the garbage model is a published decision',
  );
  t.ok(
    byCam('cam-garbage').every((d) => d.verdict === 'ERROR' && /garbage/.test(d.reason)),
    `a decision of the garbage model's camera is an ERROR naming it (${byCam('cam-garbage')[0]?.reason})`,
  );
  t.ok(
    byCam('cam-nan').length > 0 &&
      byCam('cam-nan').every((d) => d.verdict === 'ERROR' && /NaN/.test(d.reason)),
    `NaN outputs give ERROR verdicts (${byCam('cam-nan')[0]?.reason})`,
  );
  t.ok(
    byCam('cam-good').filter((d) => d.verdict !== 'ERROR').length > 0,
    'the good model keeps judging beside them',
  );
  recordFigures(t, '5-model-garbage', {
    faults: {
      garbageAtStart: 1,
      garbageInstalls: GARBAGE_INSTALLS,
      nanModel: 1,
      triggersWithoutModel: TRIGGERS,
    },
    garbageCameraDecisions: byCam('cam-garbage').length,
    decisionsChecked: decisions.length,
    errorVerdicts: decisions.filter((d) => d.verdict === 'ERROR').length,
    lost: 0,
  });
});

t.test(
  `inference that throws (worker fault injection, ${RUNS} runs): clear errors, the runner survives`,
  async (t) => {
    const r = new ModelRunner(
      { id: 'washer', path: WASHER_MODEL, providers: ['cuda'], workers: 1, intraOpThreads: 1 },
      quietLog,
      // "cuda" loads (emulated on CPU), passes warm-up and the golden images, then every run throws
      { faults: { emulate: ['cuda'], failRuns: { provider: 'cuda', afterRuns: 10 } } },
    );
    t.teardown(() => r.stop());
    await r.start();
    t.equal(r.snapshot().state, 'ready', r.snapshot().error ?? '');
    const frame = {
      kind: 'encoded' as const,
      data: readFileSync(join(SAMPLES, '0001.jpg')),
      capturedAt: Date.now(),
    };
    let failed = 0;
    const reasons = new Set<string>();
    for (let i = 0; i < RUNS; i++) {
      try {
        await r.infer(frame);
      } catch (err) {
        failed++;
        reasons.add((err as Error).message.slice(0, 200));
      }
    }
    t.ok(failed > 0, `${failed} of ${RUNS} runs threw`);
    t.ok(
      [...reasons].every((m) => /injected fault|failed/.test(m)),
      `with a reason: ${[...reasons].join(' | ')}`,
    );
    t.not(r.snapshot().state, undefined, 'the runner still answers');
    recordFigures(t, '5-model-throws', { faults: { throwingRuns: failed }, runs: RUNS, lost: 0 });
  },
);
