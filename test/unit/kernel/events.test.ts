import pino from 'pino';
import t from 'tap';
import { Alerts } from '../../../agent/alerts.js';
import { EventBus } from '../../../agent/events.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { tempStorage } from '../../helpers/storage.js';

/** A logger that keeps its lines, to see what a failing listener leaves behind. */
function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  return { log, lines };
}

t.test(
  'a listener that throws is logged with its owner and stops neither the emitter nor the others',
  async (t) => {
    const { log, lines } = recordingLog();
    const bus = new EventBus(log);
    const seen: string[] = [];
    bus.on('LinkStateChanged', () => seen.push('first'), 'first');
    bus.on(
      'LinkStateChanged',
      () => {
        throw new Error('listener on fire');
      },
      'broken',
    );
    bus.on('LinkStateChanged', ({ connected }) => seen.push(`last ${connected}`), 'last');
    t.doesNotThrow(() => bus.emit('LinkStateChanged', { connected: true }));
    t.same(seen, ['first', 'last true'], 'the listeners before and after it ran, in order');
    const logged = lines.find((l) => l.owner === 'broken');
    t.match(logged, { event: 'LinkStateChanged', owner: 'broken', err: { message: 'listener on fire' } });
  },
);

t.test('removeListeners(owner) removes exactly that owner, also in the middle of an emit', async (t) => {
  const bus = new EventBus(quietLog);
  const seen: string[] = [];
  bus.on('LinkStateChanged', () => seen.push('a'), 'a');
  bus.on('AlertChanged', () => seen.push('a-alert'), 'a');
  bus.on(
    'LinkStateChanged',
    () => {
      seen.push('b');
      bus.removeListeners('c');
    },
    'b',
  );
  bus.on('LinkStateChanged', () => seen.push('c'), 'c');
  t.equal(bus.listenerCount(), 4);
  bus.emit('LinkStateChanged', { connected: false });
  t.same(seen, ['a', 'b', 'c'], 'a removal during an emit takes effect from the next emit');
  t.equal(bus.listenerCount('c'), 0);
  bus.removeListeners('a');
  t.equal(bus.listenerCount('a'), 0, "all of an owner's listeners, on every event");
  seen.length = 0;
  bus.emit('LinkStateChanged', { connected: true });
  t.same(seen, ['b']);
});

t.test(
  'a throwing DecisionStored listener does not stop the decision path or the other listeners',
  async (t) => {
    const s = tempStorage();
    const stored: number[] = [];
    s.events.on(
      'DecisionStored',
      () => {
        throw new Error('a page that crashed');
      },
      'page',
    );
    s.events.on('DecisionStored', ({ decision }) => stored.push(decision.seq), 'publisher');
    const first = await s.storage.record(draft({ verdict: 'NG' }));
    const second = await s.storage.record(draft());
    t.same([first.seq, second.seq], [1, 2], 'both verdicts recorded and returned to the camera');
    t.same(stored, [1, 2], 'the listener after the broken one heard of both');
    t.equal(s.store.lastSeq(), 2);
    s.store.close();
  },
);

t.test('Alerts: only changes are news; each is emitted once and kept while active', async (t) => {
  const bus = new EventBus(quietLog);
  let now = 1_000;
  const alerts = new Alerts({ clock: { now: () => now } as never, log: quietLog, events: bus });
  const heard: [string, boolean, number][] = [];
  bus.on('AlertChanged', ({ alert }) => heard.push([alert.code, alert.active, alert.ts]), 'test');
  const down = { code: 'CAMERA_DOWN', severity: 'critical' as const, cameraId: 'cam-1', message: 'down' };
  alerts.raise({ ...down, active: true });
  now = 2_000;
  alerts.raise({ ...down, active: true });
  alerts.raise({ ...down, cameraId: 'cam-2', active: true });
  t.same(
    alerts.active().map((a) => a.cameraId),
    ['cam-1', 'cam-2'],
    'one per code and camera',
  );
  alerts.clear('CAMERA_DOWN', 'back', { cameraId: 'cam-1' });
  alerts.clear('CAMERA_DOWN', 'back', { cameraId: 'cam-1' });
  alerts.clear('DISK_FULL', 'never raised');
  t.same(heard, [
    ['CAMERA_DOWN', true, 1_000],
    ['CAMERA_DOWN', true, 2_000],
    ['CAMERA_DOWN', false, 2_000],
  ]);
  t.same(
    alerts.active().map((a) => a.cameraId),
    ['cam-2'],
  );
});
