import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { agentHttp } from '../helpers/agent-http.js';
import { spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { goodJpeg, svgEntityBomb, truncatedJpegWithEnd } from '../helpers/frame-fuzz.js';
import { freePort, waitFor } from '../helpers/net.js';

// The campaign's case: four 320-byte SVGs named .jpg in a folder camera's folder held libuv's threads for
// minutes (the camera stalled 40 s and more while /readyz said 200), and SIGTERM waited for the renders.
// Now they are refused by their first bytes: each is an ERROR decision at once, the frames around them are
// judged, and the agent stops cleanly.

t.test(
  'SVG bombs and a truncated frame in a folder camera: ERROR each, the camera runs on, SIGTERM exits',
  async (t) => {
    const dir = tempDir();
    const inbox = join(dir, 'inbox');
    const files: [string, Buffer][] = [
      ['01-good.jpg', goodJpeg(1)],
      ['02-bomb.jpg', svgEntityBomb(3)],
      ['03-bomb.jpg', svgEntityBomb(3)],
      ['04-bomb.jpg', svgEntityBomb(3)],
      ['05-bomb.jpg', svgEntityBomb(3)],
      ['06-cut.jpg', truncatedJpegWithEnd(goodJpeg(2))],
      ['07-good.jpg', goodJpeg(3)],
    ];
    mkdirSync(inbox);
    for (const [i, [name, data]] of files.entries()) {
      writeFileSync(join(inbox, name), data);
      utimesSync(join(inbox, name), 1_000 + i, 1_000 + i);
    }
    const httpPort = await freePort();
    const config = writeConfig(
      dir,
      `agent: { id: e2e-hostile }
store: { path: ${dir}/agent.db }
mqtt: { url: "mqtt://127.0.0.1:1" }
health: { listen: "127.0.0.1:${httpPort}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${inbox}, pollMs: 100, settleMs: 300 }, trigger: { type: continuous }, model: washer, deadlineMs: 2000 }
`,
    );
    const agent = spawnAgent(['run', '-c', config]);
    t.teardown(() => agent.stop('SIGKILL'));
    const http = agentHttp(httpPort);
    const decisions = await waitFor(
      async () => {
        const d = await http.decisions();
        // in seq order, which is trigger order, here the files' order (the API lists by decidedAt: with one
        // part ahead, a bomb refused at once is decided before the good frame ahead of it is judged)
        return d && d.length >= files.length ? d.sort((a, b) => a.seq - b.seq) : undefined;
      },
      60_000,
      'a decision for every file',
    );
    t.same(
      decisions.map((d) => d.verdict === 'ERROR'),
      [false, true, true, true, true, true, false],
      'in file order: the bombs and the cut frame ERROR, the good frames judged',
    );
    for (const d of decisions.slice(1, 5)) {
      t.match(
        d.reason,
        /^frame could not be decoded: 0\d-bomb\.jpg: unsupported image format: not a JPEG, PNG or TIFF image/,
      );
    }
    t.match(decisions[5]?.reason, /^frame could not be decoded: truncated image/);
    const status = await http.status();
    t.match(status?.cameras, [{ id: 'cam-1', state: 'running' }], 'the camera runs on');
    t.equal(await agent.stop('SIGTERM'), 0, 'a clean stop: no decoder left busy');
  },
);
