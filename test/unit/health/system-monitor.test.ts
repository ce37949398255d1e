import { join } from 'node:path';
import t from 'tap';
import { SystemMonitor } from '../../../agent/health/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';

t.test(
  'the system block is filled from the start, not a row of nulls while the first probe runs',
  async (t) => {
    const clock = new ManualClock();
    // the store's folder does not exist yet (the store creates it in the same stage)
    const monitor = new SystemMonitor(join(tempDir(), 'not-yet', 'agent.db'), quietLog, clock);
    await monitor.start();
    t.teardown(() => monitor.stop());
    // the full probe (systeminformation) is still running: this is what /api/status shows meanwhile
    const s = monitor.snapshot();
    t.ok(s.cpu.cores !== null && s.cpu.cores > 0, `cores: ${s.cpu.cores}`);
    t.type(s.cpu.loadPercent, 'number');
    t.ok((s.memory.totalBytes ?? 0) > 0 && (s.memory.usedBytes ?? 0) > 0, 'memory');
    t.ok((s.disk.totalBytes ?? 0) > 0 && s.disk.freeBytes !== null, 'disk of the nearest existing folder');
    t.equal(s.sampledAt, clock.now(), 'sampled now');
    t.ok(s.temperature.cpuC === null || typeof s.temperature.cpuC === 'number', 'temperature where reported');
  },
);

t.test('a snapshot before start is filled too', async (t) => {
  const monitor = new SystemMonitor(tempDir(), quietLog, new ManualClock());
  t.not(monitor.snapshot().sampledAt, null);
  t.not(monitor.snapshot().memory.totalBytes, null);
});
