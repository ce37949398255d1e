import mqtt from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import t, { type Test } from 'tap';
import { startMosquitto, type TestBroker } from '../../helpers/brokers.js';
import { waitFor } from '../../helpers/net.js';
import { recipeAgent } from '../../helpers/recipes.js';
import { requireTool } from '../../helpers/tools.js';

const codec = sparkplugPayload.get('spBv1.0');
if (!codec) throw new Error('no spBv1.0 codec');
const G = 'spBv1.0/plant-c';
const NODE = 'recipe-test';

interface Msg {
  kind: string;
  device?: string;
  metrics: Record<string, unknown>;
}

/** A Sparkplug host: records births and data (decoded, metrics by name) and sends commands. */
async function host(t: Test, url: string) {
  const msgs: Msg[] = [];
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `host-${Math.random()}` });
  client.on('message', (topic, payload) => {
    const [, , kind = '', , device] = topic.split('/');
    if (kind.endsWith('CMD')) return;
    const metrics: Record<string, unknown> = {};
    for (const m of codec?.decodePayload(payload).metrics ?? []) {
      const v = m.value;
      metrics[m.name ?? ''] = typeof v === 'object' && v !== null && 'low' in v ? Number(v) : v;
    }
    msgs.push({ kind, ...(device ? { device } : {}), metrics });
  });
  await client.subscribeAsync(`${G}/#`, { qos: 1 });
  t.teardown(() => client.endAsync());
  const command = (device: string | undefined, metrics: { name: string; type: string; value: unknown }[]) => {
    const topic = device ? `${G}/DCMD/${NODE}/${device}` : `${G}/NCMD/${NODE}`;
    const payload = codec?.encodePayload({ timestamp: Date.now(), metrics: metrics as never });
    return client.publishAsync(topic, Buffer.from(payload ?? []), { qos: 0 });
  };
  /** The next message of this kind (and device) after `from` that has `name`. */
  const next = (from: number, kind: string, name: string, device?: string) =>
    waitFor(
      () => msgs.slice(from).find((m) => m.kind === kind && m.device === device && name in m.metrics),
      10_000,
      `${kind} with ${name}`,
    );
  return { msgs, command, next };
}

let broker: TestBroker;
t.before(async () => {
  if (!requireTool(t, 'mosquitto', 'the Sparkplug command test needs a real MQTT broker')) return;
  broker = await startMosquitto();
});
t.teardown(() => broker?.stop());

t.test(
  'DCMD Trigger/Enabled/Recipe and NCMD Recipe: the effect, and the new values in DDATA/NDATA',
  async (t) => {
    const h = await host(t, broker.url);
    const { agent } = recipeAgent({
      brokerUrl: broker.url,
      preloadB: true,
      mqttExtra: ', format: both, sparkplug: { groupId: plant-c }',
    });
    await agent.start();
    t.teardown(() => agent.stop());
    const nbirth = await h.next(0, 'NBIRTH', 'Recipe');
    t.match(nbirth.metrics, {
      Recipe: 'product-a',
      'Recipe/Number': 1,
      Backlog: Number,
      'Link/MQTT': Boolean,
      'Alerts/Active': 0,
      'Alerts/Codes': '',
    });
    const dbirth = await h.next(0, 'DBIRTH', 'Trigger', 'cam-1');
    t.match(dbirth.metrics, { Trigger: false, Enabled: true, Recipe: 'product-a', 'Decision/Verdict': null });
    const recipes = agent.recipes;
    const camera = agent.cameras.get('cam-1');
    if (!recipes || !camera) throw new Error('not built');

    // Trigger: a part is judged; its decision is DDATA as always, and Trigger drops back to false
    let from = h.msgs.length;
    await h.command('cam-1', [{ name: 'Trigger', type: 'Boolean', value: true }]);
    const decision = await h.next(from, 'DDATA', 'Decision/Verdict', 'cam-1');
    t.equal(decision.metrics['Decision/Verdict'], 'NG');
    t.match(JSON.parse(String(decision.metrics['Decision/Json'])), { recipe: 'product-a' });
    t.equal((await h.next(from, 'DDATA', 'Trigger', 'cam-1')).metrics.Trigger, false);

    // Enabled: the camera is disabled, and says so
    from = h.msgs.length;
    await h.command('cam-1', [{ name: 'Enabled', type: 'Boolean', value: false }]);
    t.match((await h.next(from, 'DDATA', 'Enabled', 'cam-1')).metrics, { Enabled: false, State: 'disabled' });
    t.equal(camera.snapshot().enabled, false);
    from = h.msgs.length;
    await h.command('cam-1', [{ name: 'Enabled', type: 'Boolean', value: true }]);
    t.match((await h.next(from, 'DDATA', 'Enabled', 'cam-1')).metrics, { Enabled: true });

    // Recipe on the device: the agent switches (recipes are agent-wide), NDATA and DDATA carry the new one
    from = h.msgs.length;
    await h.command('cam-1', [{ name: 'Recipe', type: 'String', value: 'product-b' }]);
    t.match((await h.next(from, 'NDATA', 'Recipe')).metrics, { Recipe: 'product-b', 'Recipe/Number': 2 });
    t.equal((await h.next(from, 'DDATA', 'Recipe', 'cam-1')).metrics.Recipe, 'product-b');
    t.equal(recipes.activeRecipe.id, 'product-b');

    // NCMD by number, then a refused one: answered with the unchanged value
    from = h.msgs.length;
    await h.command(undefined, [{ name: 'Recipe', type: 'UInt32', value: 1 }]);
    t.match((await h.next(from, 'NDATA', 'Recipe')).metrics, { Recipe: 'product-a' });
    from = h.msgs.length;
    await h.command(undefined, [{ name: 'Recipe', type: 'String', value: 'product-z' }]);
    t.match((await h.next(from, 'NDATA', 'Recipe')).metrics, { Recipe: 'product-a' });
    t.equal(recipes.activeRecipe.id, 'product-a');

    // node metrics follow the alerts as they change
    from = h.msgs.length;
    agent.alerts.raise({
      code: 'CAMERA_DOWN',
      severity: 'critical',
      cameraId: 'cam-1',
      message: 'test',
      active: true,
    });
    t.match((await h.next(from, 'NDATA', 'Alerts/Active')).metrics, {
      'Alerts/Active': 1,
      'Alerts/Critical': 1,
      'Alerts/Codes': 'CAMERA_DOWN',
    });

    // every command is in the request log, as `sparkplug`
    const logged = (await (
      await fetch(`http://127.0.0.1:${agent.http.port}/api/requests?limit=20`)
    ).json()) as {
      requests: { name: string; via: string; status: string }[];
    };
    t.same(
      logged.requests
        .filter((r) => r.via === 'sparkplug')
        .map((r) => [r.name, r.status])
        .reverse(),
      [
        ['trigger', 'ok'],
        ['camera/enable', 'ok'],
        ['camera/enable', 'ok'],
        ['recipe/select', 'ok'],
        ['recipe/select', 'ok'],
        ['recipe/select', 'error'],
      ],
    );
  },
);
