import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Agent } from '../../agent/app.js';
import { parseConfigText } from '../../agent/config/index.js';
import { SAMPLES, tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { quietLog } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/net.js';

t.test(
  'a restarted agent does not inspect a file it already judged, and does inspect new ones',
  async (t) => {
    const dir = tempDir();
    const inbox = join(dir, 'inbox');
    mkdirSync(inbox);
    for (const f of ['0001.jpg', '0002.jpg', '0003.jpg']) copyFileSync(join(SAMPLES, f), join(inbox, f));
    const config = parseConfigText(
      `agent: { id: folder-restart }
store: { path: ${dir}/agent.db }
mqtt: { url: "mqtt://127.0.0.1:1", reconnectMinMs: 5000 }
health: { listen: "127.0.0.1:0" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${inbox}, pollMs: 30 }, trigger: { type: continuous }, model: washer }
`,
      'test',
      {},
    );
    const first = new Agent(config, { log: quietLog });
    await first.start();
    await waitFor(() => first.store.lastSeq() === 3, 30_000, 'three decisions');
    await first.stop();

    const second = new Agent(config, { log: quietLog });
    await second.start();
    t.teardown(() => second.stop());
    copyFileSync(join(SAMPLES, '0004.jpg'), join(inbox, '0004.jpg'));
    await waitFor(() => second.store.lastSeq() >= 4, 30_000, 'the new file judged');
    await new Promise((r) => setTimeout(r, 300)); // a few more scans: nothing else may appear
    const decisions = second.store.list({ limit: 10 });
    t.equal(decisions.length, 4, 'one decision per file, none repeated after the restart');
    t.equal(decisions[0]?.seq, 4);
  },
);
