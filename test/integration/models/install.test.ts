import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { agentError } from '../../../agent/errors.js';
import { buildHttpApp } from '../../../agent/http/index.js';
import { ModelDeployment, ModelInbox } from '../../../agent/models/index.js';
import { systemClock } from '../../../agent/service.js';
import { tempDir } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';
import { stubHttpDeps } from '../../helpers/http-deps.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { expectGoldenLabel, washerConfig, washerVersion } from '../../helpers/model-versions.js';

const TOKEN = 'secret-token';

async function setup(t: Test) {
  const d = new ModelDeployment(washerConfig(), {
    log: quietLog,
    clock: systemClock,
    versionsDir: tempDir('eva-versions-'),
  });
  t.teardown(() => d.stop());
  await d.start();
  const app = buildHttpApp(
    stubHttpDeps({
      token: TOKEN,
      installModel: async (model, dir) => {
        // as the agent's model(id) refuses it (agent/app.ts)
        if (model !== 'washer') throw agentError('MODEL_UNKNOWN', { model, known: ['washer'] });
        return d.install(dir);
      },
    }),
  );
  t.teardown(() => app.close());
  return { d, app };
}

function files(dir: string, sub = ''): string[] {
  return readdirSync(join(dir, sub), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(dir, join(sub, e.name)) : [join(sub, e.name)],
  );
}

/** A multipart body with the `model` field and each file of `dir` under its relative path. */
async function upload(dir: string, model = 'washer') {
  const form = new FormData();
  form.append('model', model);
  for (const rel of files(dir))
    form.append(rel, new Blob([readFileSync(join(dir, rel))]), rel.split('/').pop());
  const encoded = new Response(form);
  return {
    payload: Buffer.from(await encoded.arrayBuffer()),
    headers: { 'content-type': encoded.headers.get('content-type') ?? '' },
  };
}

t.test('POST /api/model/install with the token installs a version into shadow', async (t) => {
  const { d, app } = await setup(t);
  const body = await upload(washerVersion('2'));
  const res = await app.inject({
    method: 'POST',
    url: '/api/model/install',
    ...body,
    headers: { ...body.headers, authorization: `Bearer ${TOKEN}` },
  });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { status: 'ok', data: { model: 'washer', version: '2', provider: 'cpu' } });
  t.match(d.snapshot(), { version: '1', shadow: { version: '2' } });
});

t.test('an upload without the token is refused and installs nothing', async (t) => {
  const { d, app } = await setup(t);
  const body = await upload(washerVersion('2'));
  const res = await app.inject({ method: 'POST', url: '/api/model/install', ...body });
  t.equal(res.statusCode, 401);
  t.equal(res.json().code, 'EVA_ERR_UNAUTHORISED');
  t.equal(d.snapshot().shadow, null);
});

t.test('a bad upload is refused with a clear error; the active version is untouched', async (t) => {
  const { d, app } = await setup(t);
  const auth = (b: Awaited<ReturnType<typeof upload>>) => ({
    ...b,
    headers: { ...b.headers, authorization: `Bearer ${TOKEN}` },
  });
  const bad = washerVersion('2', (m) => {
    m.sha256 = 'f'.repeat(64);
  });
  let res = await app.inject({ method: 'POST', url: '/api/model/install', ...auth(await upload(bad)) });
  t.equal(res.statusCode, 400);
  t.match(res.json(), {
    status: 'error',
    error: /refused: .*does not match its manifest: sha256.*active version 1 unchanged/,
  });
  t.equal(res.json().code, 'EVA_ERR_MODEL_REJECTED');

  const notOnnx = washerVersion('3', (m) => {
    delete m.sha256;
  });
  writeFileSync(join(notOnnx, 'model.onnx'), 'not a model at all');
  res = await app.inject({ method: 'POST', url: '/api/model/install', ...auth(await upload(notOnnx)) });
  t.equal(res.statusCode, 400);
  t.match(res.json().error, /is not an ONNX model/);
  t.equal(res.json().code, 'EVA_ERR_MODEL_REJECTED');

  res = await app.inject({
    method: 'POST',
    url: '/api/model/install',
    ...auth(await upload(washerVersion('4'), 'bolt')),
  });
  t.equal(res.statusCode, 400);
  t.match(res.json().error, /unknown model "bolt"/);
  t.equal(res.json().code, 'EVA_ERR_MODEL_UNKNOWN');
  t.match(d.snapshot(), { version: '1', state: 'ready', shadow: null, installed: [] });
});

t.test('a version folder dropped into the inbox is installed once it is complete', async (t) => {
  const clock = new ManualClock();
  const d = new ModelDeployment(washerConfig(), {
    log: quietLog,
    clock,
    versionsDir: tempDir('eva-versions-'),
  });
  t.teardown(() => d.stop());
  await d.start();
  const inboxDir = tempDir('eva-inbox-');
  const inbox = new ModelInbox(inboxDir, 1_000, (dir) => d.install(dir), { clock, log: quietLog });
  await inbox.start();
  t.teardown(() => inbox.stop());

  renameSync(washerVersion('2'), join(inboxDir, 'washer-2'));
  await inbox.scan(); // first sight: maybe still being copied, so only remembered
  t.equal(d.snapshot().shadow, null);
  await inbox.scan(); // unchanged since: installed
  t.match(d.snapshot(), { version: '1', shadow: { version: '2', state: 'ready' } });
  t.equal(existsSync(join(inboxDir, 'washer-2')), false);
  t.equal(readdirSync(join(inboxDir, '.done')).length, 1);

  const bad = washerVersion('3', expectGoldenLabel(2, 'ok'));
  renameSync(bad, join(inboxDir, 'washer-3'));
  await inbox.scan();
  await inbox.scan();
  const failed = readdirSync(join(inboxDir, '.failed'));
  t.equal(failed.length, 1);
  const error = readFileSync(join(inboxDir, '.failed', failed[0] as string, 'ERROR.txt'), 'utf8');
  t.match(error, /version 3 refused: .*golden images failed: golden\/scratch-1.jpg: expected ok/);
  t.match(d.snapshot(), { version: '1', shadow: { version: '2' } });
});

t.test('the inbox scans on its own timer', async (t) => {
  const clock = new ManualClock();
  const inboxDir = tempDir('eva-inbox-');
  const seen: string[] = [];
  const inbox = new ModelInbox(
    inboxDir,
    1_000,
    async (dir) => {
      seen.push(dir);
    },
    { clock, log: quietLog },
  );
  await inbox.start();
  t.teardown(() => inbox.stop());
  renameSync(washerVersion('2'), join(inboxDir, 'v2'));
  await clock.advance(1_000);
  t.same(seen, []);
  await clock.advance(1_000);
  t.same(seen, [join(inboxDir, 'v2')]);
});

t.test('stopping the inbox waits for the install it is running', async (t) => {
  const clock = new ManualClock();
  const inboxDir = tempDir('eva-inbox-');
  let release: () => void = () => {};
  const installed: string[] = [];
  const inbox = new ModelInbox(
    inboxDir,
    1_000,
    async (dir) => {
      await new Promise<void>((r) => {
        release = r;
      });
      installed.push(dir);
    },
    { clock, log: quietLog },
  );
  await inbox.start();
  renameSync(washerVersion('2'), join(inboxDir, 'v2'));
  await inbox.scan(); // remembered
  const scanning = inbox.scan(); // installing: held until released
  let stopped = false;
  const stopping = inbox.stop().then(() => {
    stopped = true;
  });
  await new Promise((r) => setImmediate(r));
  t.equal(stopped, false, 'stop waits while the install runs');
  release();
  await stopping;
  t.same(installed, [join(inboxDir, 'v2')], 'the install finished before stop returned');
  t.equal(readdirSync(join(inboxDir, '.done')).length, 1);
  await scanning;
});
