import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { stringify } from 'yaml';
import { ModelDeployment, versionsDirOf } from '../../../agent/models/index.js';
import { systemClock } from '../../../agent/service.js';
import { BIN, SAMPLES, tempDir } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';
import { washerConfig, washerVersion } from '../../helpers/model-versions.js';
import { freePort } from '../../helpers/net.js';

const run = promisify(execFile);

t.test(
  'edge-agent check loads the version run would start: the promoted one, not the configured one',
  async (t) => {
    const dir = tempDir('eva-check-');
    const storePath = join(dir, 'agent.db');
    const model = washerConfig();
    const d = new ModelDeployment(model, {
      log: quietLog,
      clock: systemClock,
      versionsDir: versionsDirOf(storePath, model),
    });
    await d.start();
    await d.install(washerVersion('2'));
    await d.promote('2');
    await d.stop();

    const config = join(dir, 'agent.yaml');
    writeFileSync(
      config,
      stringify({
        agent: { id: 'check-1' },
        store: { path: storePath },
        mqtt: { url: `mqtt://127.0.0.1:${await freePort()}` }, // nobody there: the broker item fails, on purpose
        models: [{ id: 'washer', path: model.path, providers: ['cpu'] }],
        cameras: [
          {
            id: 'cam-1',
            source: { type: 'folder', path: SAMPLES },
            trigger: { type: 'mqtt' },
            model: 'washer',
          },
        ],
      }),
    );
    const out = await run(process.execPath, [BIN, 'check', '-c', config, '--json']).catch(
      (err: { stdout: string; code: number }) => err,
    );
    // the report alone on stdout (logs go to stderr for check)
    const report = JSON.parse(out.stdout) as { items: { kind: string; ok: boolean; detail: string }[] };
    const item = report.items.find((i) => i.kind === 'model');
    t.equal(item?.ok, true, item?.detail ?? 'no model item');
    t.match(item?.detail, /^version 2 on cpu/, 'the promoted version was loaded and its golden images run');
  },
);
