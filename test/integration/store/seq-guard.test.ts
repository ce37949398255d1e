import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DecisionStore, SeqMark } from '../../../agent/store/index.js';
import { REPO, tempDir } from '../../helpers/agent-process.js';
import { draft, quietLog } from '../../helpers/fixtures.js';

/**
 * A real process writes decisions, loses its WAL file (deleted under it: the process still writes into the
 * unlinked file) and is killed: what it wrote since the last checkpoint is gone, as in issue 16, failure 8.
 */
function writeThenLoseWal(path: string): void {
  const script = `
    import { rmSync } from 'node:fs';
    import pino from 'pino';
    import { DecisionStore } from './agent/store/index.ts';
    const d = () => ({ cameraId: 'cam-1', triggeredAt: 1, capturedAt: 1, decidedAt: 1, verdict: 'OK',
      reason: 'ok', degraded: false, model: null, result: null,
      latencyMs: { queue: 0, preprocess: 0, inference: 0, total: 0 }, image: null });
    const store = DecisionStore.open({ path: ${JSON.stringify(path)}, agentId: 'cell-1', log: pino({ level: 'silent' }) });
    for (let i = 0; i < 10; i++) store.record(d());
    store.markSent('json', [1, 2, 3, 4, 5, 6, 7, 8]);
    store.checkpoint(); // 1..10 are in the database file
    for (let i = 0; i < 5; i++) store.record(d()); // 11..15 only in the WAL
    rmSync(${JSON.stringify(`${path}-wal`)});
    for (let i = 0; i < 5; i++) store.record(d()); // 16..20 into the deleted WAL
    process.kill(process.pid, 'SIGKILL');
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO,
    encoding: 'utf8',
  });
  if (r.signal !== 'SIGKILL') throw new Error(`the writer did not die as planned: ${r.stderr}`);
}

t.test('a WAL lost with its decisions: no seq is handed out again, and the loss is reported', async (t) => {
  const path = join(tempDir('eva-seq-'), 'agent.db');
  writeThenLoseWal(path);
  const store = DecisionStore.open({ path, agentId: 'cell-1', log: quietLog });
  t.teardown(() => store.close());
  t.same(
    store.list({ limit: 100 }).map((d) => d.seq),
    [10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
    'the database itself lost 11..20 with the WAL',
  );
  t.equal(store.record(draft()).seq, 21, 'numbering continues above the highest seq ever handed out');
  t.match(store.seqGuard.rewind, { from: 11, to: 20, ackedUpTo: 8, where: 'start' }, 'the loss is reported');
  store.close();
  const again = DecisionStore.open({ path, agentId: 'cell-1', log: quietLog });
  t.teardown(() => again.close());
  t.equal(again.seqGuard.rewind, null, 'reported once: the store now agrees with its mark');
  t.equal(again.record(draft()).seq, 22);
});

t.test('a seq that goes backwards while running is caught on the next record', async (t) => {
  const path = join(tempDir('eva-seq-'), 'agent.db');
  const store = DecisionStore.open({ path, agentId: 'cell-1', log: quietLog });
  t.teardown(() => store.close());
  for (let i = 0; i < 5; i++) store.record(draft());
  // what a lost WAL frame looks like from inside: the database's last seq is lower than what was committed
  store.db.exec("UPDATE sqlite_sequence SET seq = 2 WHERE name = 'decisions'");
  const rewinds: unknown[] = [];
  store.seqGuard.onRewind((r) => rewinds.push(r));
  t.equal(store.record(draft()).seq, 6, 'never 3 again');
  t.match(rewinds, [{ from: 3, to: 5, where: 'running' }]);
});

t.test('a decision held while the store could not write keeps its seq; no later one takes it', async (t) => {
  const path = join(tempDir('eva-seq-'), 'agent.db');
  const store = DecisionStore.open({ path, agentId: 'cell-1', log: quietLog });
  t.teardown(() => store.close());
  store.record(draft());
  const held = store.handOut();
  t.equal(held.seq, 2);
  t.equal(store.handOut().seq, 3, 'handed out in order');
  t.equal(store.record(draft(), undefined, held).seq, 2, 'stored later under its own seq');
  store.close();
  // restarted before the third was stored: its seq was handed out, so it is reported lost, never reused
  const again = DecisionStore.open({ path, agentId: 'cell-1', log: quietLog });
  t.teardown(() => again.close());
  t.match(again.seqGuard.rewind, { from: 3, to: 3 });
  t.equal(again.record(draft()).seq, 4);
});

t.test('the mark file survives a torn write of one slot, and says nothing when both are bad', async (t) => {
  const path = join(tempDir('eva-seq-'), 'mark');
  const mark = new SeqMark(path);
  t.equal(mark.open(), null, 'a new file holds nothing');
  mark.advance(41);
  mark.advance(42);
  mark.ack(40);
  mark.close();
  const bytes = readFileSync(path);
  t.equal(bytes.length, 64, 'two 32-byte slots, overwritten in place');
  const reread = new SeqMark(path);
  t.same(reread.open(), { seq: 42, acked: 40 });
  reread.close();
  // tear the newest slot (the ack went to slot (3 % 2) = 1): the older one is whole
  const torn = Buffer.from(bytes);
  torn.fill(0xff, 40, 50);
  writeFileSync(path, torn);
  const afterTear = new SeqMark(path);
  t.same(afterTear.open(), { seq: 42, acked: 0 }, 'the other slot: the last synced seq');
  afterTear.close();
  writeFileSync(path, Buffer.alloc(64, 0xff));
  const garbage = new SeqMark(path);
  t.equal(garbage.open(), null, 'no whole slot: nothing claimed');
  garbage.close();
});
