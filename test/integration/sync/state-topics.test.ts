import t from 'tap';
import type { CameraStatus } from '../../../agent/capture/index.js';
import { composeDecision, type Verdict } from '../../../agent/decision/index.js';
import { EventBus } from '../../../agent/events.js';
import { AgentMetrics } from '../../../agent/metrics.js';
import { MqttLink, STATE_CHECK_MS, StateTopics } from '../../../agent/sync/index.js';
import { collect, startAedes } from '../../helpers/brokers.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { waitFor } from '../../helpers/net.js';

/** A camera as the publisher reads it: its snapshot, which the test moves. */
function camera(over: Partial<CameraStatus> = {}) {
  let status: CameraStatus = {
    id: 'cam-1',
    state: 'running',
    enabled: true,
    trigger: 'mqtt',
    source: 'folder',
    model: 'washer',
    recipe: 'product-a',
    fps: 0,
    lastFrameAgeMs: null,
    inflight: 0,
    framesSkipped: 0,
    reconnects: 0,
    reconnectsLastHour: 0,
    stallsLastHour: 0,
    connection: null,
    lastError: null,
    ...over,
  };
  return {
    lastCaptureOk: true as boolean | null,
    snapshot: () => status,
    set: (more: Partial<CameraStatus>) => {
      status = { ...status, ...more };
    },
  };
}

t.test(
  'R/cameras/<id>/state: retained, on change only, decisions coalesced per check, recipe in R/status',
  async (t) => {
    const broker = await startAedes();
    t.teardown(() => broker.stop());
    const sub = await collect(broker.url, 's/#');
    t.teardown(() => sub.end());
    const clock = new ManualClock();
    const events = new EventBus(quietLog);
    const link = new MqttLink(
      {
        url: broker.url,
        format: 'json',
        publishTimeoutMs: 5_000,
        maxInFlight: 8,
        backlogShare: 0.5,
        backlogRatePerSec: 0,
        reconnectMinMs: 1_000,
        reconnectMaxMs: 8_000,
      },
      'cell-1',
      's',
      { clock, log: quietLog, metrics: new AgentMetrics(false), events },
    );
    await link.start();
    t.teardown(() => link.stop());
    await waitFor(() => link.connected, 5_000, 'the link');
    const cam = camera();
    let recipe = { id: 'product-a', number: 1 };
    const topics = new StateTopics(link, new Map([['cam-1', cam]]), {
      events,
      clock,
      log: quietLog,
      recipe: () => recipe,
    });
    await topics.start();
    const states = () => sub.messages.filter((m) => m.topic === 's/cameras/cam-1/state');
    const first = await waitFor(() => states()[0], 5_000, 'the first state');
    const late = await collect(broker.url, 's/cameras/#');
    t.teardown(() => late.end());
    const kept = await waitFor(() => late.messages[0], 5_000, 'the retained state for a late subscriber');
    t.equal(kept.retain, true, 'retained: a flow that starts later gets it at once');
    t.match(first.json(), {
      connection: 'good',
      enabled: true,
      state: 'running',
      model: 'washer',
      recipe: 'product-a',
      lastVerdict: null,
      counts: { OK: 0, NG: 0, UNCERTAIN: 0, ERROR: 0 },
    });
    await waitFor(
      () => sub.messages.find((m) => m.topic === 's/status' && m.json().recipe === 'product-a'),
      5_000,
      'R/status with the recipe',
    );

    // nothing changed: no publish, however many checks
    await clock.advance(STATE_CHECK_MS * 3);
    await new Promise((r) => setTimeout(r, 200));
    t.equal(states().length, 1, 'no change, no message');

    // three decisions between two checks: one message, with all three counted
    let seq = 0;
    const decide = (verdict: Verdict) =>
      events.emit('DecisionStored', {
        decision: composeDecision(draft({ verdict, partId: `P-${++seq}` }), {
          id: `d-${seq}`,
          seq,
          agentId: 'cell-1',
        }),
      });
    decide('OK');
    decide('NG');
    decide('NG');
    await clock.advance(STATE_CHECK_MS);
    const second = await waitFor(() => states()[1], 5_000, 'the state after three decisions');
    t.match(second.json(), {
      lastVerdict: 'NG',
      lastDecision: { id: 'd-3', seq: 3, partId: 'P-3' },
      counts: { OK: 1, NG: 2 },
    });
    await new Promise((r) => setTimeout(r, 200));
    t.equal(states().length, 2, 'one message for the three');

    // a recipe change is published at once (no need to wait for the check), and R/status follows
    cam.set({ recipe: 'product-b', model: 'washer-int8' });
    recipe = { id: 'product-b', number: 2 };
    events.emit('RecipeChanged', { recipe: 'product-b', number: 2, previous: 'product-a', changeoverMs: 3 });
    const third = await waitFor(() => states()[2], 5_000, 'the state after the switch');
    t.match(third.json(), { recipe: 'product-b', model: 'washer-int8' });
    await waitFor(
      () => sub.messages.find((m) => m.topic === 's/status' && m.json().recipe === 'product-b'),
      5_000,
      'R/status echoes product-b',
    );
    t.notOk(
      'recipe' in JSON.parse(link.statusPayload('offline')),
      'the will (set at connect) carries no recipe that could be stale when the broker sends it',
    );

    // a capture that fails is a connection down; a clean stop leaves `stopped` behind
    cam.lastCaptureOk = false;
    await clock.advance(STATE_CHECK_MS);
    t.match((await waitFor(() => states()[3], 5_000, 'down')).json(), { connection: 'down' });
    cam.set({ state: 'stopped' });
    await topics.stop();
    t.match((await waitFor(() => states()[4], 5_000, 'stopped')).json(), {
      connection: 'stopped',
      state: 'stopped',
    });
  },
);
