import t, { type Test } from 'tap';
import type { Decision, DecisionDraft } from '../../../agent/decision/index.js';
import { RECOVER_PERIOD_MS, type RecordRequest } from '../../../agent/store/index.js';
import { draft } from '../../helpers/fixtures.js';
import { tempStorage } from '../../helpers/storage.js';

// Group commit (docs/storage.md): verdicts ready in the same turn of the event loop go into one transaction.
// The store's recordAll is watched (each call is one transaction, one fsync) and, in the last test, made to
// fail the way a full disk does, to walk the hold path with a group.

function setup(t: Test) {
  const s = tempStorage();
  t.teardown(() => s.store.close());
  const transactions: number[] = [];
  let failWith: Error | undefined;
  const recordAll = s.store.recordAll.bind(s.store);
  s.store.recordAll = (requests: readonly RecordRequest[]) => {
    transactions.push(requests.length);
    if (failWith) throw failWith;
    return recordAll(requests);
  };
  const told: { seq: number; partId?: string | undefined; payload?: string | undefined; durable: boolean }[] =
    [];
  s.events.on(
    'DecisionStored',
    ({ decision, payload }) =>
      told.push({
        seq: decision.seq,
        partId: decision.partId,
        payload,
        durable: s.store.getById(decision.id) !== undefined,
      }),
    'test',
  );
  return {
    ...s,
    transactions,
    told,
    failing: (err: Error | undefined) => {
      failWith = err;
    },
  };
}

const part = (i: number, over: Partial<DecisionDraft> = {}) => draft({ partId: `P${i}`, ...over });

t.test(
  'verdicts ready in the same turn share one transaction; seq order is the order they came in',
  async (t) => {
    const s = setup(t);
    const answers = [0, 1, 2, 3, 4].map((i) => s.storage.recordOrHold(part(i)));
    t.equal(s.store.lastSeq(), 0, 'nothing is stored inside the turn');
    const decisions = await Promise.all(answers);
    t.same(s.transactions, [5], 'one transaction for the five');
    t.same(
      decisions.map((d) => [d.seq, d.partId]),
      [
        [1, 'P0'],
        [2, 'P1'],
        [3, 'P2'],
        [4, 'P3'],
        [5, 'P4'],
      ],
      'each caller gets its own decision, seqs in call order',
    );
    t.same(
      s.told.map((d) => d.seq),
      [1, 2, 3, 4, 5],
      'DecisionStored for each, in seq order',
    );
    t.ok(
      s.told.every((d) => d.durable),
      'every one is in the store when it is told',
    );
    for (const [i, d] of decisions.entries()) {
      t.equal(
        s.told[i]?.payload,
        JSON.stringify(s.store.getById(d.id)),
        `the told payload is the stored one (seq ${d.seq})`,
      );
    }
    await s.storage.recordOrHold(part(5));
    t.same(s.transactions, [5, 1], 'a verdict alone in its turn is its own transaction');
  },
);

t.test(
  'a group that fails is stored one by one: only the bad verdict fails, the others keep their order',
  async (t) => {
    const s = setup(t);
    // a verdict the schema refuses (verdict NOT NULL): not a store fault, so it is not held either
    const bad = part(1, { verdict: null as unknown as Decision['verdict'] });
    const answers = [part(0), bad, part(2), part(3)].map((d) => s.storage.recordOrHold(d));
    const settled = await Promise.allSettled(answers);
    t.same(s.transactions, [4, 1, 1, 1, 1], 'the group rolled back, then each alone');
    t.equal(settled[1]?.status, 'rejected', 'the bad one fails, with its own error');
    t.match((settled[1] as PromiseRejectedResult).reason, { code: 'EVA_ERR_STORE_WRITE' });
    const stored = settled
      .filter((r): r is PromiseFulfilledResult<Decision> => r.status === 'fulfilled')
      .map((r) => [r.value.seq, r.value.partId]);
    t.same(
      stored,
      [
        [1, 'P0'],
        [2, 'P2'],
        [3, 'P3'],
      ],
      'no seq lost to the rolled-back group, none given to the wrong part',
    );
    t.same(
      s.told.map((d) => [d.seq, d.partId]),
      stored,
      'told once each, after their own commit',
    );
    t.equal(s.store.lastSeq(), 3);
  },
);

t.test(
  'a group meeting a full disk: every verdict is answered, held in order, and stored under its seq later',
  async (t) => {
    const s = setup(t);
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    s.failing(full);
    const held = await Promise.all([0, 1, 2].map((i) => s.storage.recordOrHold(part(i))));
    t.same(
      held.map((d) => [d.seq, d.partId, d.degraded]),
      [
        [1, 'P0', true],
        [2, 'P1', true],
        [3, 'P2', true],
      ],
      'answered at once, degraded, seqs handed out in order',
    );
    t.ok(
      held.every((d) => /held in memory, not yet stored/.test(d.reason)),
      'each says it is held',
    );
    t.equal(s.storage.held.size, 3);
    t.equal(s.told.length, 0, 'nobody is told of a decision that is not stored');

    s.failing(undefined); // the disk has room again; the hold is tried again after its pause
    await s.clock.advance(RECOVER_PERIOD_MS);
    const after = await Promise.all([3, 4].map((i) => s.storage.recordOrHold(part(i))));
    t.equal(s.storage.held.size, 0, 'the held verdicts are stored, before the new ones');
    t.same(
      after.map((d) => [d.seq, d.partId, d.degraded]),
      [
        [4, 'P3', false],
        [5, 'P4', false],
      ],
    );
    t.same(
      s.told.map((d) => [d.seq, d.partId]),
      [
        [1, 'P0'],
        [2, 'P1'],
        [3, 'P2'],
        [4, 'P3'],
        [5, 'P4'],
      ],
      'stored and told in seq order: the held ones under the ids and seqs they were answered with',
    );
    for (const d of held) t.equal(s.store.getById(d.id)?.seq, d.seq, `held ${d.partId} stored as answered`);
  },
);

t.test('stop commits a group still waiting for the end of its turn', async (t) => {
  const s = setup(t);
  const answer = s.storage.recordOrHold(part(0));
  for (let i = 0; i < 10; i++) await Promise.resolve(); // queued; the turn has not ended
  t.equal(s.transactions.length, 0, 'still waiting for the end of the turn');
  await s.storage.stop();
  s.store.close(); // still inside the same turn: a commit left for later would find the store closed
  const d = await answer;
  t.same(s.transactions, [1]);
  t.equal(d.seq, 1, 'stored by stop, not lost');
});
