import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import t, { type Test } from 'tap';
import type { Decision } from '../../../agent/decision/index.js';
import { EventBus } from '../../../agent/events.js';
import type { HistoryPoint } from '../../../agent/health/index.js';
import {
  JudgedFrames,
  LiveEvents,
  MAX_EVENT_CLIENTS,
  PageAssets,
  pageRoutes,
  Snapshots,
} from '../../../agent/page/index.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { waitFor } from '../../helpers/net.js';

/** The page's routes on a real HTTP server, with a live-events hub on a manual clock. */
async function serve(t: Test) {
  const clock = new ManualClock();
  const events = new EventBus(quietLog);
  let statusCalls = 0;
  const live = new LiveEvents({ clock, events, log: quietLog, status: () => ({ n: ++statusCalls }) });
  await live.start();
  const app = Fastify();
  pageRoutes({
    assets: new PageAssets(undefined),
    live,
    judged: new JudgedFrames([], { clock, events, log: quietLog }),
    snapshots: new Snapshots(new Map(), { clock, log: quietLog }),
    clock,
    log: quietLog,
  })(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await live.stop();
    await app.close();
  });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return { clock, events, live, url };
}

/** A client of the event stream that collects what it reads. */
function client(url: string) {
  const got: { event: string; data: string }[] = [];
  let res: IncomingMessage | undefined;
  let buffer = '';
  const req = get(`${url}/api/events`, (r) => {
    res = r;
    r.setEncoding('utf8');
    r.on('data', (chunk: string) => {
      buffer += chunk;
      for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data !== undefined) got.push({ event, data });
      }
    });
  });
  req.on('error', () => {});
  return { got, req, response: () => res };
}

let seq = 0;
const decision = (cameraId: string): Decision => {
  seq += 1;
  return { ...draft({ cameraId }), schema: 1, id: `d-${seq}`, seq, agentId: 'a', historical: false };
};

t.test(
  'the status at once, then decisions batched per camera per tick, and the status on a change',
  async (t) => {
    const { clock, events, live, url } = await serve(t);
    const c = client(url);
    t.teardown(() => c.req.destroy());
    await waitFor(() => c.got.length >= 1, 5_000, 'the first event');
    t.match(c.response()?.headers['content-type'], /text\/event-stream/);
    t.same(c.got[0], { event: 'status', data: '{"n":1}' });
    t.equal(live.size, 1);

    for (let i = 0; i < 10; i++) events.emit('DecisionStored', { decision: decision('cam-1') });
    events.emit('DecisionStored', { decision: decision('cam-2') });
    await clock.advance(1_000);
    await waitFor(() => c.got.some((e) => e.event === 'decisions'), 5_000, 'a batch');
    const batch = JSON.parse(c.got.find((e) => e.event === 'decisions')?.data ?? '[]') as {
      cameraId: string;
      seq: number;
    }[];
    t.same(
      batch.map((d) => [d.cameraId, d.seq]),
      [
        ['cam-1', seq - 1],
        ['cam-2', seq],
      ],
      'the newest decision of each camera only',
    );
    t.equal(c.got.filter((e) => e.event === 'status').length, 1, 'no status without a change within 5 s');

    events.emit('LinkStateChanged', { connected: false });
    await clock.advance(1_000);
    await waitFor(
      () => c.got.filter((e) => e.event === 'status').length === 2,
      5_000,
      'status after a change',
    );
    await clock.advance(5_000);
    await waitFor(() => c.got.filter((e) => e.event === 'status').length === 3, 5_000, 'status every 5 s');

    const point = { t: 1, agent: {}, cameras: {} } as unknown as HistoryPoint;
    events.emit('StatusSampled', { point });
    await waitFor(() => c.got.some((e) => e.event === 'sample'), 5_000, 'a history point');
  },
);

t.test('a page that stops reading is closed; the number of streams is bounded', async (t) => {
  const { events, live, url } = await serve(t);
  const slow = client(url);
  t.teardown(() => slow.req.destroy());
  await waitFor(() => slow.response(), 5_000, 'connected');
  slow.response()?.pause(); // a stalled phone: the socket stays open, nothing is read
  // 200 KB points, until the agent's send buffer passes its bound
  const big = { t: 1, agent: { note: 'x'.repeat(200_000) }, cameras: {} } as unknown as HistoryPoint;
  await waitFor(
    () => {
      events.emit('StatusSampled', { point: big });
      return live.size === 0;
    },
    20_000,
    'the slow client closed',
  );
  t.pass('closed: it reconnects by itself once it reads again');

  const many = Array.from({ length: MAX_EVENT_CLIENTS }, () => client(url));
  t.teardown(() => {
    for (const c of many) c.req.destroy();
  });
  await waitFor(() => live.size === MAX_EVENT_CLIENTS, 10_000, 'all connected');
  t.ok(live.full);
  const refused = await fetch(`${url}/api/events`);
  t.equal(refused.status, 503);
  t.match(await refused.json(), { code: 'EVA_ERR_STREAMS_BUSY' });
  many[0]?.req.destroy();
  await waitFor(() => !live.full, 5_000, 'a place freed');
});
