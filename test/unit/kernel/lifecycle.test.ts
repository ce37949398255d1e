import t from 'tap';
import { Lifecycle } from '../../../agent/lifecycle.js';
import type { Service } from '../../../agent/service.js';
import { quietLog } from '../../helpers/fixtures.js';

/** A service that writes what happens to it into `log`; its start and stop can be held open by hand. */
function part(
  name: string,
  log: string[],
  opts: { startFails?: boolean; stopHangs?: boolean; stopTimeoutMs?: number; holdStart?: Promise<void> } = {},
): Service {
  return {
    name,
    ...(opts.stopTimeoutMs !== undefined ? { stopTimeoutMs: opts.stopTimeoutMs } : {}),
    async start() {
      log.push(`start ${name}`);
      await opts.holdStart;
      if (opts.startFails) throw new Error(`${name} cannot start`);
      log.push(`up ${name}`);
    },
    async stop() {
      log.push(`stop ${name}`);
      if (opts.stopHangs) await new Promise(() => {});
    },
  };
}

t.test('stages start in order and stop in reverse; a stage starts and stops together', async (t) => {
  const log: string[] = [];
  const life = new Lifecycle(
    [
      { name: 'store', services: [part('store', log)] },
      { name: 'io', services: [part('http', log), part('mqtt', log)] },
      { name: 'line', services: [part('cam', log)] },
    ],
    quietLog,
  );
  await life.start(new AbortController().signal);
  t.same(log, [
    'start store',
    'up store',
    'start http',
    'start mqtt',
    'up http',
    'up mqtt',
    'start cam',
    'up cam',
  ]);
  log.length = 0;
  await life.stop();
  t.same(log, ['stop cam', 'stop http', 'stop mqtt', 'stop store'], 'the store stops last');
  log.length = 0;
  await life.stop();
  t.same(log, [], 'a second stop stops nothing twice');
});

t.test(
  'a stop that hangs is bounded by its own timeout and does not keep the rest from stopping',
  async (t) => {
    const log: string[] = [];
    const life = new Lifecycle(
      [
        { name: 'store', services: [part('store', log)] },
        {
          name: 'line',
          services: [part('stuck', log, { stopHangs: true, stopTimeoutMs: 50 }), part('cam', log)],
        },
      ],
      quietLog,
    );
    await life.start(new AbortController().signal);
    const before = Date.now();
    await life.stop();
    t.ok(Date.now() - before < 5_000, 'did not wait for the stuck part');
    t.same(log.slice(-3), ['stop stuck', 'stop cam', 'stop store']);
  },
);

t.test('a failed start stops what had started, in reverse, and rethrows', async (t) => {
  const log: string[] = [];
  const life = new Lifecycle(
    [
      { name: 'store', services: [part('store', log)] },
      { name: 'io', services: [part('http', log), part('broken', log, { startFails: true })] },
      { name: 'line', services: [part('cam', log)] },
    ],
    quietLog,
  );
  await t.rejects(life.start(new AbortController().signal), /broken cannot start/);
  t.notOk(log.includes('start cam'), 'nothing after the failed stage started');
  t.same(
    log.filter((l) => l.startsWith('stop')),
    ['stop http', 'stop store'],
    'the failed one is not stopped',
  );
});

t.test(
  'an abort during a start ends it early; stop waits for the start under way, then stops it',
  async (t) => {
    const log: string[] = [];
    let release = () => {};
    const holdStart = new Promise<void>((r) => {
      release = r;
    });
    const life = new Lifecycle(
      [
        { name: 'store', services: [part('store', log)] },
        { name: 'models', services: [part('model', log, { holdStart })] },
        { name: 'line', services: [part('cam', log)] },
      ],
      quietLog,
    );
    const abort = new AbortController();
    const started = life.start(abort.signal);
    await new Promise((r) => setImmediate(r));
    t.same(log, ['start store', 'up store', 'start model'], 'the model is loading');
    abort.abort(new Error('SIGTERM'));
    await started;
    t.notOk(log.includes('start cam'), 'the line never started');
    const stopped = life.stop();
    await new Promise((r) => setImmediate(r));
    t.notOk(log.includes('stop model'), 'the model is not stopped in the middle of its start');
    release();
    await stopped;
    t.same(log.slice(-3), ['up model', 'stop model', 'stop store']);
  },
);
