import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { REPO, SAMPLES, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { freePort, waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

/**
 * The unit's Type=notify contract (issue #15), with the test as systemd: it listens on its own NOTIFY_SOCKET
 * and sets WATCHDOG_USEC, and the agent must say READY=1 once it has started (with its MAINPID), ping
 * WATCHDOG=1 from its main loop at half the timeout, and say STOPPING=1 at SIGTERM before exiting 0.
 */

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

t.test('READY, WATCHDOG pings and STOPPING reach the notify socket', async (t) => {
  if (!requireTool(t, 'systemd-notify', 'the agent notifies systemd through it')) return;
  if (!requireTool(t, PYTHON, 'the test listens on an AF_UNIX datagram socket with Python')) return;
  const dir = tempDir('eva-notify-');
  const socketPath = join(dir, 'notify.sock');
  const listener = spawn(PYTHON, [join(REPO, 'test/fixtures/systemd/notify-listener.py'), socketPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => listener.kill());
  const messages: { at: number; text: string }[] = [];
  let listening = false;
  listener.stdout.setEncoding('utf8');
  let buffered = '';
  listener.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const parsed = JSON.parse(line) as { listening?: string; message?: string };
      if (parsed.listening) listening = true;
      if (parsed.message) messages.push({ at: Date.now(), text: parsed.message });
    }
  });
  await waitFor(() => listening || undefined, 10_000, 'the notify listener');

  const config = writeConfig(
    dir,
    `agent: { id: notify-1 }
store: { path: ${dir}/data/agent.db }
mqtt: { url: "mqtt://127.0.0.1:${await freePort()}" }
health: { listen: "127.0.0.1:${await freePort()}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: interval, fps: 2 }, model: washer }
`,
  );
  // 1 s watchdog: pings every 500 ms
  const agent = spawnAgent(['run', '-c', config], {
    env: { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '1000000' },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const texts = () => messages.map((m) => m.text);
  const ready = await waitFor(() => texts().find((m) => m.startsWith('READY=1')), 60_000, 'READY=1');
  t.match(
    ready,
    new RegExp(`^READY=1\\nSTATUS=running: 1 camera\\(s\\), 1 model\\(s\\)\\nMAINPID=${agent.proc.pid}$`),
  );
  await agent.waitForLog((l) => l.msg === 'agent started', 5_000);
  const readyIndex = texts().indexOf(ready);
  t.ok(
    texts()
      .slice(0, readyIndex)
      .some((m) => m === 'WATCHDOG=1'),
    'pings start before READY: a long model load is not a stall',
  );
  const pingsAfterReady = () =>
    texts()
      .slice(readyIndex)
      .filter((m) => m === 'WATCHDOG=1').length;
  await waitFor(
    () => (pingsAfterReady() >= 3 ? true : undefined),
    10_000,
    'three WATCHDOG=1 pings after READY',
  );

  agent.proc.kill('SIGTERM');
  const stopping = await waitFor(() => texts().find((m) => m.startsWith('STOPPING=1')), 20_000, 'STOPPING=1');
  t.match(stopping, /^STOPPING=1\nSTATUS=stopping/);
  t.equal(await agent.exited, 0, 'a clean stop');
  t.ok(
    texts().every((m) => !m.includes('\t')),
    'each assignment on its own line, none split',
  );
});

t.test('without NOTIFY_SOCKET nothing is sent and nothing is spawned', async (t) => {
  const { SystemdNotifier } = await import('../../agent/cli/index.js');
  const { systemClock } = await import('../../agent/service.js');
  const { quietLog } = await import('../helpers/fixtures.js');
  const n = new SystemdNotifier({ WATCHDOG_USEC: '1000000' }, { clock: systemClock, log: quietLog });
  t.equal(n.enabled, false);
  t.equal(n.watchdogMs, undefined);
  n.startWatchdog();
  n.ready('x');
  n.stop();
  const other = new SystemdNotifier(
    { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid + 1) },
    { clock: systemClock, log: quietLog },
  );
  t.equal(other.watchdogMs, undefined, 'a watchdog meant for another PID is not ours');
});
