import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { parseConfigText } from '../../../agent/config/index.js';
import { STOP_TIMEOUT_MS } from '../../../agent/lifecycle.js';
import { REPO, tempDir } from '../../helpers/agent-process.js';
import { requireTool } from '../../helpers/tools.js';

/**
 * The shipped unit (issue #15): it passes `systemd-analyze verify`, it is Type=notify with a watchdog, it
 * runs as its own user with the camera and GPU groups, and the shipped config writes where the unit lets
 * it write (the old unit made everything read-only but /var/lib/edge-agent while the config wrote ./data).
 */

const UNIT = join(REPO, 'deploy/systemd/edge-agent.service');
const text = readFileSync(UNIT, 'utf8');

/** The unit's `Key=value` settings (a key given twice keeps every value). */
function settings(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1] as string, [...(out.get(m[1] as string) ?? []), m[2] as string]);
  }
  return out;
}
const one = (key: string) => settings().get(key)?.at(-1);

t.test('systemd-analyze verify passes, with no warning about the unit', async (t) => {
  if (!requireTool(t, 'systemd-analyze', 'it verifies the unit file')) return;
  // verify reads the unit's own name from the path: a copy keeps the repository clean of its side files
  const copy = join(tempDir('eva-unit-'), 'edge-agent.service');
  copyFileSync(UNIT, copy);
  const r = await promisify(execFile)('systemd-analyze', ['verify', copy]).catch(
    (err: { code: number; stderr: string }) => ({ ...err, stdout: '' }),
  );
  t.equal((r as { code?: number }).code ?? 0, 0, r.stderr);
  t.equal(
    r.stderr
      .split('\n')
      .filter((l) => l.includes('edge-agent.service'))
      .join('\n'),
    '',
    'no warnings',
  );
});

t.test(
  'Type=notify with a watchdog the agent pings, a service user, groups for cameras and GPUs',
  async (t) => {
    t.equal(one('Type'), 'notify');
    t.equal(one('NotifyAccess'), 'all', 'the messages come from systemd-notify, a child of the agent');
    t.match(one('WatchdogSec'), /^\d+s$/);
    t.equal(one('User'), 'edge-agent');
    t.match(one('SupplementaryGroups'), /\bvideo\b/);
    t.match(one('SupplementaryGroups'), /\brender\b/);
    t.equal(one('StateDirectory'), 'edge-agent');
    t.equal(one('ProtectSystem'), 'strict');
    t.equal(one('NoNewPrivileges'), 'yes');
    t.notOk(settings().has('PrivateDevices'), 'cameras and GPUs stay reachable');
    t.match(one('RestartPreventExitStatus'), /\b78\b/, 'a bad config is not restarted');
    t.equal(one('Restart'), 'on-failure');
    t.ok(settings().has('StartLimitBurst') && settings().has('StartLimitIntervalSec'), 'restart limits');
    const stopS = Number(one('TimeoutStopSec')?.replace(/s$/, ''));
    t.ok(stopS * 1000 > 3 * STOP_TIMEOUT_MS, `TimeoutStopSec ${stopS}s leaves room for bounded stops`);
    t.match(one('ExecStart'), / run -c \/etc\/edge-agent\/agent\.yaml$/);
  },
);

t.test('the shipped config writes only under the unit state directory', async (t) => {
  const config = parseConfigText(
    readFileSync(join(REPO, 'deploy/agent.yaml'), 'utf8'),
    'deploy/agent.yaml',
    {},
  );
  const state = '/var/lib/edge-agent/';
  t.ok(config.store.path.startsWith(state), config.store.path);
  t.ok(config.store.imagesDir?.startsWith(state), String(config.store.imagesDir));
  t.ok(
    config.models.every((m) => m.path.startsWith('/opt/edge-agent/current/')),
    'models from the release',
  );
  const container = parseConfigText(readFileSync(join(REPO, 'deploy/agent.yaml'), 'utf8'), 'x', {
    EDGE_AGENT_DATA: '/data',
    EDGE_AGENT_HOME: '/app',
  });
  t.equal(container.store.path, '/data/agent.db', 'the same file serves the container');
});

t.test('the install script is valid bash', async (t) => {
  const r = spawnSync('bash', ['-n', join(REPO, 'deploy/systemd/install.sh')], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
});
