import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { agentHttp } from '../helpers/agent-http.js';
import { SAMPLES, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { freePort, waitFor } from '../helpers/net.js';

t.test(
  'a corrupt image gives an ERROR decision with a clear reason, and the agent keeps running',
  async (t) => {
    const dir = tempDir();
    const inbox = join(dir, 'inbox');
    mkdirSync(inbox);
    const good = readFileSync(join(SAMPLES, '0001.jpg'));
    writeFileSync(join(inbox, 'a-truncated.jpg'), good.subarray(0, Math.floor(good.length / 3)));
    writeFileSync(join(inbox, 'b-garbage.jpg'), Buffer.from('this is not an image at all'));
    copyFileSync(join(SAMPLES, '0001.jpg'), join(inbox, 'c-good.jpg'));
    const httpPort = await freePort();
    const config = writeConfig(
      dir,
      `agent: { id: e2e-corrupt }
store: { path: ${dir}/agent.db }
mqtt: { url: "mqtt://127.0.0.1:1", reconnectMinMs: 1000 }
health: { listen: "127.0.0.1:${httpPort}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${inbox}, pollMs: 50 }, trigger: { type: continuous }, model: washer, deadlineMs: 2000 }
`,
    );
    const agent = spawnAgent(['run', '-c', config]);
    t.teardown(() => agent.stop('SIGKILL'));
    const http = agentHttp(httpPort);

    const firstThree = await waitFor(
      async () => {
        const d = await http.decisions();
        return d && d.length >= 3 ? d : undefined;
      },
      60_000,
      'three decisions',
    );
    const byFile = firstThree.reverse();
    t.equal(byFile[0]?.verdict, 'ERROR', 'truncated JPEG');
    t.match(byFile[0]?.reason, /frame could not be decoded/);
    t.equal(byFile[1]?.verdict, 'ERROR', 'not an image');
    t.match(byFile[1]?.reason, /frame could not be decoded: .*unsupported image format/i);
    t.not(byFile[2]?.verdict, 'ERROR', 'the good frame after them is judged normally');

    copyFileSync(join(SAMPLES, '0002.jpg'), join(inbox, 'd-later.jpg'));
    const later = await waitFor(
      async () => {
        const d = await http.decisions();
        return d && d.length >= 4 ? d : undefined;
      },
      30_000,
      'a decision for a file that lands later',
    );
    t.not(later[0]?.verdict, 'ERROR', 'still running, still judging');
    t.equal(await agent.stop('SIGTERM'), 0);
  },
);
