import t from 'tap';
import { REPO, SLOW_MODEL, spawnAgent, tempDir, writeConfig } from '../helpers/agent-process.js';
import { collect, startMosquitto } from '../helpers/brokers.js';
import { freePort, waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

t.test('SIGTERM while the models are still loading: a clean stop, exit 0, R/status "stopped"', async (t) => {
  if (!requireTool(t, 'mosquitto', 'the stopped status is read from a real broker')) return;
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = tempDir();
  // three copies of the slow model load together on two cores: seconds in which the agent is up and
  // connected but no model is ready yet
  const models = [1, 2, 3].map((i) => `  - { id: slow-${i}, path: ${SLOW_MODEL} }`).join('\n');
  const config = writeConfig(
    dir,
    `agent: { id: e2e-stop-loading }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: "t/stopload" }
health: { listen: "127.0.0.1:${await freePort()}" }
models:
${models}
cameras:
  - { id: cam-1, source: { type: synthetic }, trigger: { type: interval, fps: 5 }, model: slow-1 }
`,
  );
  const status = await collect(broker.url, 't/stopload/status');
  t.teardown(() => status.end());
  const agent = spawnAgent(['run', '-c', config], { cwd: REPO });
  t.teardown(() => agent.stop('SIGKILL'));

  await agent.waitForLog((l) => l.msg === 'connected to the broker');
  agent.proc.kill('SIGTERM');
  const code = await agent.exited;
  const logs = agent.logs();
  const at = (msg: string) => logs.findIndex((l) => l.msg === msg);
  t.equal(at('agent started'), -1, 'the stop came before the start had finished');
  t.ok(at('stopping: finishing parts in flight') >= 0, 'the signal was handled, not fatal');
  t.equal(code, 0, `exit 0 (output tail: ${agent.output().slice(-400)})`);
  t.ok(at('agent stopped') >= 0, 'stopped in order');
  await waitFor(() => status.messages.at(-1)?.json().state === 'stopped', 5_000, 'the stopped status');
  t.equal(status.messages.at(-1)?.json().state, 'stopped', 'the plant sees "stopped", not "offline"');
  t.notOk(agent.output().includes('terminate called'), 'no native abort on the way out');
});
