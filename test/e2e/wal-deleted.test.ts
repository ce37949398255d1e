import { rmSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import t, { type Test } from 'tap';
import { SAMPLES, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { collect, startMosquitto } from '../helpers/brokers.js';
import { freePort, waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

interface Published {
  id: string;
  seq: number;
}

function stored(path: string): Published[] {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    // a WAL lost before the first checkpoint takes even the tables with it
    const tables = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'decisions'").get();
    return tables ? (db.prepare('SELECT seq, id FROM decisions ORDER BY seq').all() as Published[]) : [];
  } finally {
    db.close();
  }
}

async function setup(t: Test, name: string) {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const sub = await collect(broker.url, `t/${name}/#`);
  t.teardown(() => sub.end());
  const dir = tempDir(`eva-${name}-`);
  const httpPort = await freePort();
  const config = writeConfig(
    dir,
    `agent: { id: e2e-${name} }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/${name}, reconnectMinMs: 100, reconnectMaxMs: 500 }
health: { listen: "127.0.0.1:${httpPort}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: interval, fps: 20 }, model: washer, deadlineMs: 2000 }
`,
  );
  const published = () =>
    sub.messages
      .filter((m) => m.topic === `t/${name}/decisions/cam-1`)
      .map((m) => m.json() as unknown as Published);
  const alerts = () => sub.messages.filter((m) => m.topic === `t/${name}/alerts`).map((m) => m.json());
  return { dir, config, httpPort, published, alerts };
}

/** Every seq published maps to one id: a seq handed out twice is two decisions under one number. */
function seqsReused(published: Published[]): number[] {
  const byseq = new Map<number, Set<string>>();
  for (const p of published) byseq.set(p.seq, (byseq.get(p.seq) ?? new Set()).add(p.id));
  return [...byseq].filter(([, ids]) => ids.size > 1).map(([seq]) => seq);
}

/**
 * Issue 16, failure 8: deleting the WAL while the agent runs made acknowledged decisions vanish and their
 * seqs go out again with new ids.
 */
t.test(
  'a WAL deleted while the agent runs is saved into the database: a kill after it loses nothing',
  async (t) => {
    if (!requireTool(t, 'mosquitto', 'delivered decisions are counted on a real broker')) return;
    const s = await setup(t, 'walrm');
    const agent = spawnAgent(['run', '-c', s.config]);
    t.teardown(() => agent.stop('SIGKILL'));
    await waitFor(() => s.published().length >= 20, 60_000, '20 decisions delivered');
    rmSync(`${s.dir}/agent.db-wal`);
    const deletedAt = s.published().length;
    await waitFor(() => s.published().length >= deletedAt + 40, 60_000, 'more decisions after the delete');
    agent.proc.kill('SIGKILL');
    await agent.exited;
    const db = stored(`${s.dir}/agent.db`);
    const ids = new Set(db.map((d) => d.id));
    const missing = s.published().filter((p) => !ids.has(p.id));
    t.same(missing, [], 'every decision the plant received is still in the store');
    t.same(
      db.map((d) => d.seq),
      Array.from({ length: db.length }, (_, i) => i + 1),
      'the store is contiguous',
    );
    t.match(
      agent.output(),
      /WAL file was deleted or replaced while the agent ran/,
      'the agent said what happened',
    );
  },
);

t.test(
  'a WAL lost with a frozen agent: the restarted agent reports the loss and never hands a seq out again',
  async (t) => {
    if (!requireTool(t, 'mosquitto', 'delivered decisions are counted on a real broker')) return;
    const s = await setup(t, 'wallost');
    const first = spawnAgent(['run', '-c', s.config]);
    t.teardown(() => first.stop('SIGKILL'));
    await waitFor(() => s.published().length >= 30, 60_000, '30 decisions delivered');
    // frozen, the agent cannot notice: what it wrote since its last checkpoint goes with the WAL
    first.proc.kill('SIGSTOP');
    const before = s.published();
    rmSync(`${s.dir}/agent.db-wal`);
    first.proc.kill('SIGKILL');
    await first.exited;
    const kept = stored(`${s.dir}/agent.db`);
    const lastKept = kept.at(-1)?.seq ?? 0;
    const lastPublished = Math.max(...before.map((p) => p.seq));
    t.ok(
      lastKept < lastPublished,
      `the store lost decisions it had published (kept up to ${lastKept} of ${lastPublished})`,
    );

    const second = spawnAgent(['run', '-c', s.config]);
    t.teardown(() => second.stop('SIGKILL'));
    await waitFor(
      () => s.published().some((p) => p.seq > lastPublished + 10),
      60_000,
      'new decisions after the restart',
    );
    t.equal(await second.stop('SIGTERM'), 0);
    t.same(seqsReused(s.published()), [], 'no seq was published with two different ids');
    const firstNew = Math.min(
      ...s
        .published()
        .filter((p) => !before.some((b) => b.id === p.id))
        .map((p) => p.seq),
    );
    t.ok(firstNew > lastPublished, `numbering continued above the highest seq handed out (${firstNew})`);
    const alert = s.alerts().find((a) => a.code === 'STORE_SEQ_REWOUND' && a.active === true);
    t.ok(alert, 'STORE_SEQ_REWOUND on R/alerts');
    t.match(alert?.message, new RegExp(`seq ${lastKept + 1}\\.\\.\\d+`), 'naming the vanished seqs');
  },
);
