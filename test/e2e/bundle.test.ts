import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { REPO, tempDir } from '../helpers/agent-process.js';
import { collect, startAedes } from '../helpers/brokers.js';
import { freePort, waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

/**
 * The air-gapped bundle (issue #15): `npm run bundle` makes one archive; unpacked into a fresh directory
 * with no registry reachable (npm offline, registry and proxies pointing nowhere, HOME empty), the agent
 * runs `check` and a short `run` from it, using only what the archive holds.
 */

const run = promisify(execFile);
const target = `linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}`;

t.test('the bundle unpacks into a fresh directory and runs check and run offline', async (t) => {
  t.setTimeout(300_000); // copying and compressing ~120 MB on a shared 2-core box
  if (!requireTool(t, 'tar', 'the bundle is a .tar.gz')) return;
  const dir = tempDir('eva-bundle-');
  // dist/ is built by `npm test`'s pretest; building again here would only cost time
  const made = await run(
    process.execPath,
    [join(REPO, 'deploy/bundle.mjs'), '--target', target, '--out', dir, '--skip-build'],
    {
      cwd: REPO,
      timeout: 300_000,
    },
  );
  const archive = join(dir, `edge-agent-${readVersion()}-${target}.tar.gz`);
  t.ok(existsSync(archive), made.stdout);
  t.comment(made.stdout.trim().split('\n').slice(0, 2).join(' '));
  t.ok(
    statSync(archive).size < 100 * 2 ** 20,
    `the archive is ${(statSync(archive).size / 2 ** 20).toFixed(1)} MiB`,
  );

  const fresh = join(dir, 'fresh');
  await run('mkdir', ['-p', fresh]);
  await run('tar', ['-xzf', archive, '-C', fresh]);
  const release = join(fresh, `edge-agent-${readVersion()}-${target}`);
  t.notOk(
    lstatSync(join(release, 'node_modules')).isSymbolicLink(),
    'node_modules is in the archive, not a link',
  );
  t.notOk(
    existsSync(join(dir, 'node_modules')) || existsSync('/tmp/node_modules'),
    'nothing above to resolve from',
  );
  const ort = join(release, 'node_modules/onnxruntime-node/bin/napi-v6');
  t.same(readdirSync(ort), ['linux'], "onnxruntime's other platforms are pruned");
  t.same(readdirSync(join(ort, 'linux')), [process.arch === 'arm64' ? 'arm64' : 'x64']);

  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const home = join(dir, 'home');
  await run('mkdir', ['-p', home]);
  const offline: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    npm_config_offline: 'true',
    npm_config_registry: 'http://127.0.0.1:9/',
    HTTP_PROXY: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    EDGE_AGENT_HOME: release,
    EDGE_AGENT_DATA: join(dir, 'data'),
    EDGE_AGENT_LISTEN: `127.0.0.1:${await freePort()}`,
    MQTT_URL: broker.url,
  };
  const agentArgs = (command: string) => [
    join(release, 'bin/edge-agent.js'),
    command,
    '-c',
    join(release, 'deploy/agent.yaml'),
  ];
  const check = await run(process.execPath, agentArgs('check'), {
    cwd: release,
    env: offline,
    timeout: 120_000,
  }).catch((err: { code: number; stdout: string; stderr: string }) => err);
  t.equal((check as { code?: number }).code ?? 0, 0, `check passes from the bundle:\n${check.stdout}`);
  t.match(check.stdout, /ok +model washer: version 1 on cpu, golden images passed/);
  t.notOk(existsSync(join(dir, 'data/agent.db')), 'check created no store');

  const decisions = await collect(broker.url, 'edge/edge-1/decisions/#');
  t.teardown(() => decisions.end());
  const agent = spawn(process.execPath, agentArgs('run'), {
    cwd: release,
    env: offline,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  agent.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  agent.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((res) => agent.once('exit', (code) => res(code)));
  t.teardown(() => agent.kill('SIGKILL'));
  await waitFor(
    () => decisions.messages.length >= 2 || undefined,
    60_000,
    'two decisions from the bundled agent',
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${output.slice(-3000)}`);
  });
  const decision = decisions.messages[0]?.json() as { verdict: string; model: { id: string } };
  t.match(decision, { model: { id: 'washer' } });
  t.ok(['OK', 'NG', 'UNCERTAIN'].includes(decision.verdict), `a real verdict: ${decision.verdict}`);
  agent.kill('SIGTERM');
  t.equal(await exited, 0, 'a clean stop');
  t.ok(existsSync(join(dir, 'data/agent.db')), 'the store is in EDGE_AGENT_DATA');
});

function readVersion(): string {
  return (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
}
