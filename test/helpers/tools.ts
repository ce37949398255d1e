import { spawnSync } from 'node:child_process';
import type { Test } from 'tap';

/**
 * Tests that need a real tool (mosquitto, ffmpeg, ...) skip with a loud reason when it is missing, except
 * under CI=true, where a missing tool is a failure: CI installs everything the suite uses.
 */
export function requireTool(t: Test, tool: string, why: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status === 0;
  if (found) return true;
  const reason = `${tool} is not installed: ${why} (apt-get install it; .ci/run does)`;
  if (process.env.CI === 'true') {
    t.fail(`CI=true and ${reason}`);
  } else {
    process.stderr.write(`\n*** SKIPPED: ${reason}\n`);
    t.plan(0, `SKIPPED: ${reason}`);
  }
  return false;
}
