import t from 'tap';
import { RequestRejected, RequestRouter } from '../../../agent/sync/index.js';
import { quietLog } from '../../helpers/fixtures.js';

function router() {
  const calls: unknown[] = [];
  const r = new RequestRouter(
    {
      trigger: async (args) => {
        calls.push(args);
        if (args.camera === 'nope') throw new RequestRejected('unknown camera "nope"');
        return { decisionId: 'x', seq: 1, verdict: 'OK' };
      },
      'camera/enable': async (args) => {
        calls.push(args);
        return args;
      },
      'model/promote': async (args) => {
        calls.push(args);
        return args;
      },
      'model/rollback': async (args) => {
        calls.push(args);
        return args;
      },
    },
    quietLog,
  );
  return { r, calls };
}

t.test('a valid request is dispatched and answered with its transaction', async (t) => {
  const { r, calls } = router();
  const res = await r.handle('trigger', { transaction: 'tx-1', camera: 'cam-1', partId: 'A-1' });
  t.same(res, { status: 'ok', data: { decisionId: 'x', seq: 1, verdict: 'OK' }, transaction: 'tx-1' });
  t.same(
    calls,
    [{ camera: 'cam-1', partId: 'A-1' }],
    'the handler sees the arguments without the transaction',
  );
});

t.test(
  'unknown names, missing fields, wrong types and extra keys are errors that change nothing',
  async (t) => {
    const { r, calls } = router();
    const unknown = await r.handle('explode', { transaction: 7 });
    t.equal(unknown.status, 'error');
    t.match(unknown.error, /unknown request "explode"/);
    t.equal(unknown.transaction, 7);
    t.match((await r.handle('trigger', {})).error, /camera/);
    t.match((await r.handle('trigger', { camera: 5 })).error, /camera: .*expected string/i);
    t.match((await r.handle('camera/enable', { camera: 'c', enabled: 'yes' })).error, /enabled/);
    t.match((await r.handle('trigger', { camera: 'c', colour: 'red' })).error, /colour/);
    t.match((await r.handle('trigger', 'not an object')).error, /body/);
    t.same(calls, [], 'no handler ran');
  },
);

t.test('a rejected request says why', async (t) => {
  const { r } = router();
  const res = await r.handle('trigger', { camera: 'nope' });
  t.same(res, { status: 'error', error: 'unknown camera "nope"' });
});
