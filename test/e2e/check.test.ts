import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import t from 'tap';
import { SCHEMA_VERSION } from '../../agent/store/index.js';
import { BIN, SAMPLES, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { freePort } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

/**
 * `edge-agent check` as an operator runs it (issue #15): it creates and migrates nothing and says what run
 * would do; it checks the HTTP listen address, free disk against maxDiskMB, each PLC, and shows ffmpeg's
 * own error for an RTSP camera; each result is printed as it comes.
 */

interface Report {
  ok: boolean;
  items: { kind: string; id: string; ok: boolean; detail: string; warning?: boolean }[];
}

async function check(config: string, json = true): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [BIN, 'check', '-c', config, ...(json ? ['--json'] : [])];
  return promisify(execFile)(process.execPath, args, { timeout: 60_000 }).then(
    (r) => ({ code: 0, ...r }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
}

const camera = (id: string, source: string, extra = '') =>
  `  - { id: ${id}, source: ${source}, trigger: { type: mqtt }, model: washer${extra} }\n`;

function listen(port: number): Promise<Server> {
  const server = createServer((s) => s.end());
  return new Promise((res) => server.listen(port, '127.0.0.1', () => res(server)));
}

t.test('a first check on a fresh box: nothing created, every part judged, ffmpeg heard', async (t) => {
  if (!requireTool(t, 'ffmpeg', 'the RTSP camera is probed through ffmpeg')) return;
  const dir = tempDir('eva-check-');
  const [brokerPort, rtspPort, plcPort] = [await freePort(), await freePort(), await freePort()];
  const config = writeConfig(
    dir,
    `agent: { id: check-1 }
store: { path: ${dir}/data/agent.db, maxDiskMB: 1000000000 }
mqtt: { url: "mqtt://127.0.0.1:${brokerPort}" }
health: { listen: "192.0.2.1:8080" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
${camera('folder-cam', `{ type: folder, path: ${SAMPLES} }`)}${camera('ip-cam', `{ type: rtsp, url: "rtsp://127.0.0.1:${rtspPort}/cam" }`)}${camera('plc-cam', `{ type: folder, path: ${SAMPLES} }`, `, plc: { host: 127.0.0.1, port: ${plcPort} }`).replace('type: mqtt', 'type: plc')}`,
  );
  const r = await check(config);
  t.equal(r.code, 1, 'problems found');
  const report = JSON.parse(r.stdout) as Report;
  const item = (kind: string, id?: string) =>
    report.items.find((i) => i.kind === kind && (!id || i.id.startsWith(id)));
  t.match(item('store'), {
    ok: true,
    detail: new RegExp(
      `not there yet: run would create it \\(schema v${SCHEMA_VERSION}\\) and the directories under ${dir}`,
    ),
  });
  t.notOk(existsSync(join(dir, 'data')), 'check created no directory and no database');
  t.match(item('disk'), { ok: false, detail: /the disk would fill before the budget protects it/ });
  t.match(item('http'), {
    ok: false,
    detail: /cannot listen on 192\.0\.2\.1:8080: no interface of this machine has the address 192\.0\.2\.1/,
  });
  t.match(item('broker'), { ok: false });
  t.match(item('model', 'washer'), { ok: true, detail: /golden images passed/ });
  t.match(item('camera', 'folder-cam'), { ok: true });
  t.match(item('camera', 'ip-cam'), { ok: false, detail: /Connection refused/i }, "ffmpeg's own words");
  t.match(item('plc', 'plc-cam'), { ok: false, detail: /cannot connect: .*ECONNREFUSED/ });
  t.equal(report.items.map((i) => i.kind).join(','), 'store,disk,http,broker,model,camera,camera,camera,plc');
});

t.test(
  'an existing store of an older schema: check says it would migrate it, and leaves it as it was',
  async (t) => {
    const dir = tempDir('eva-check-');
    mkdirSync(join(dir, 'data'));
    const dbPath = join(dir, 'data/agent.db');
    const db = new Database(dbPath);
    db.exec('CREATE TABLE decisions (seq INTEGER PRIMARY KEY)');
    db.pragma('user_version = 1');
    db.close();
    const before = readFileSync(dbPath);
    const busy = await freePort();
    const server = await listen(busy);
    t.teardown(() => server.close());
    const plc = await listen(await freePort());
    t.teardown(() => plc.close());
    const plcPort = (plc.address() as { port: number }).port;
    const config = writeConfig(
      dir,
      `agent: { id: check-2 }
store: { path: ${dbPath}, maxDiskMB: 10 }
mqtt: { url: "mqtt://127.0.0.1:${await freePort()}" }
health: { listen: "127.0.0.1:${busy}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
${camera('plc-cam', `{ type: folder, path: ${SAMPLES} }`, `, plc: { host: 127.0.0.1, port: ${plcPort} }`).replace('type: mqtt', 'type: plc')}`,
    );
    const r = await check(config, false);
    const lines = r.stdout.trim().split('\n');
    t.match(lines[0], /^config: 1 camera\(s\), 1 model\(s\), agent check-2$/);
    t.match(
      r.stdout,
      new RegExp(
        `ok +store ${dbPath}: .*schema v1: run would migrate it to v${SCHEMA_VERSION}, after copying it to ${dbPath}\\.v1\\.bak`,
      ),
    );
    t.match(
      r.stdout,
      new RegExp(
        `warn  http 127\\.0\\.0\\.1:${busy}: port ${busy} is in use: is the agent already running\\?`,
      ),
    );
    t.match(r.stdout, /ok +disk .*free, store\.maxDiskMB 10 MiB/);
    t.match(r.stdout, new RegExp(`ok +plc plc-cam 127\\.0\\.0\\.1:${plcPort}: Modbus TCP port open`));
    t.match(lines[lines.length - 1], /^1 problem\(s\) found$/, 'only the broker; a warning is not a problem');
    t.same(readFileSync(dbPath), before, 'the database is byte for byte what it was');
    t.notOk(existsSync(`${dbPath}.v1.bak`), 'no backup taken either');
    t.notOk(existsSync(`${dbPath}-wal`), 'not opened');
  },
);

const base = `agent: { id: bad-1 }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras: [{ id: cam-1, source: { type: synthetic }, trigger: { type: continuous }, model: washer }]
`;
const hostile: Record<string, [string, RegExp]> = {
  'an alias bomb': [
    `a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n${base}`,
    /alias bomb/,
  ],
  'an undefined alias': [`${base}drift: *nowhere\n`, /alias \*nowhere has no anchor/],
  'a self-referencing anchor': [`${base}drift: &d { window: *d }\n`, /used inside its own anchor/],
  'versionsDir: /dev/null': [
    base.replace(`path: ${WASHER_MODEL} }`, `path: ${WASHER_MODEL}, versionsDir: /dev/null }`),
    /models\[0\]\.versionsDir \(line 2\): \/dev\/null is a character device, not a directory/,
  ],
  'a model at /dev/urandom': [
    base.replace(WASHER_MODEL, '/dev/urandom'),
    /\/dev\/urandom is a character device, not a file/,
  ],
  'a manifest at /dev/urandom': [
    base.replace(`path: ${WASHER_MODEL} }`, `path: ${WASHER_MODEL}, manifest: /dev/urandom }`),
    /models\[0\]\.manifest.*character device/,
  ],
  'a wildcard in mqtt.topicRoot': [
    `${base}mqtt: { topicRoot: "acme/+/cell" }\n`,
    /mqtt\.topicRoot.*wildcards/,
  ],
};
for (const [what, [yaml, expected]] of Object.entries(hostile)) {
  t.test(`check with ${what}: bad config (78), named, no stack trace`, async (t) => {
    const r = await check(writeConfig(tempDir('eva-bad-'), yaml), false);
    t.equal(r.code, 78);
    t.match(r.stderr, expected);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
}
