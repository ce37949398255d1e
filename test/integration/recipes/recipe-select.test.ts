import t from 'tap';
import type { Decision } from '../../../agent/decision/index.js';
import { collect, startAedes } from '../../helpers/brokers.js';
import { waitFor } from '../../helpers/net.js';
import { recipeAgent } from '../../helpers/recipes.js';

const TOKEN = 'recipe-token';

const json = (o: unknown) => JSON.stringify(o);

t.test(
  'recipe/select over MQTT and HTTP: switch between parts, echo, refusals, audit, restart',
  async (t) => {
    const broker = await startAedes();
    t.teardown(() => broker.stop());
    const sub = await collect(broker.url, 't/rcp/#');
    t.teardown(() => sub.end());
    const { agent, dir } = recipeAgent({ brokerUrl: broker.url, token: TOKEN });
    await agent.start();
    let running = agent;
    t.teardown(() => running.stop());
    await waitFor(() => agent.link.connected, 5_000, 'the broker');
    const recipes = agent.recipes;
    if (!recipes) throw new Error('recipes not built');

    const models = () => Object.fromEntries(agent.status().models.map((m) => [m.id, m.state]));
    t.same(
      models(),
      { washer: 'ready', 'washer-int8': 'unloaded' },
      'only the active recipe`s model is loaded',
    );

    const trigger = async (partId: string) => {
      const camera = agent.cameras.get('cam-1');
      if (!camera) throw new Error('no camera');
      return camera.trigger(partId);
    };
    const responses = (name: string) =>
      sub.messages.filter((m) => m.topic === `t/rcp/response/${name}`).map((m) => m.json());

    const a = await trigger('P-1');
    t.match(a, { recipe: 'product-a', verdict: 'NG', model: { id: 'washer' } }, 'product-a: a scratch is NG');

    await sub.client.publishAsync(
      't/rcp/request/recipe/select',
      json({ recipe: 'product-b', transaction: 7 }),
      {
        qos: 1,
      },
    );
    const ok = await waitFor(() => responses('recipe/select')[0], 20_000, 'the select response');
    t.match(ok, {
      status: 'ok',
      transaction: 7,
      data: { recipe: 'product-b', number: 2, previous: 'product-a' },
    });
    t.equal((ok.data as { changed: boolean }).changed, true);
    t.ok((ok.data as { changeoverMs: number }).changeoverMs > 0, 'the changeover took the model load');

    const b = await trigger('P-2');
    t.match(
      b,
      { recipe: 'product-b', verdict: 'OK', model: { id: 'washer-int8' } },
      'product-b: a scratch is OK',
    );

    // the echo: R/status and the camera's retained state say product-b
    const status = await waitFor(
      () =>
        sub.messages.filter((m) => m.topic === 't/rcp/status').find((m) => m.json().recipe === 'product-b'),
      5_000,
      'R/status with the recipe',
    );
    t.match(status.json(), { state: 'online', recipe: 'product-b', recipeNumber: 2 });
    const state = await waitFor(
      () =>
        sub.messages
          .filter((m) => m.topic === 't/rcp/cameras/cam-1/state')
          .map((m) => m.json())
          .find((s) => s.recipe === 'product-b' && (s.counts as { OK: number }).OK === 1),
      5_000,
      'the camera state with product-b and its counts',
    );
    t.match(state, { model: 'washer-int8', enabled: true, lastVerdict: 'OK', counts: { NG: 1, OK: 1 } });

    // refusals change nothing
    await sub.client.publishAsync('t/rcp/request/recipe/select', json({ recipe: 'product-z' }), { qos: 1 });
    const unknown = await waitFor(() => responses('recipe/select')[1], 5_000, 'the refusal');
    t.match(unknown, {
      status: 'error',
      code: 'EVA_ERR_RECIPE_UNKNOWN',
      error: /product-a \(1\), product-b \(2\)/,
    });
    t.equal(recipes.activeRecipe.id, 'product-b');

    // HTTP, by number; the same request shape
    const base = `http://127.0.0.1:${agent.http.port}`;
    const res = await fetch(`${base}/api/recipe/select`, {
      method: 'POST',
      body: json({ recipe: 1 }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    });
    t.equal(res.status, 200);
    t.match(await res.json(), { status: 'ok', data: { recipe: 'product-a', changed: true } });
    t.match(await trigger('P-3'), { recipe: 'product-a', verdict: 'NG' });
    const statusBody = (await (await fetch(`${base}/api/status`)).json()) as { recipes: unknown };
    t.match(statusBody.recipes, { active: { id: 'product-a', number: 1 }, changeovers: 2, pending: null });

    // the audit trail: every select, with where it came from and how it was answered
    const logged = (await (await fetch(`${base}/api/requests?limit=10`)).json()) as {
      requests: { name: string; via: string; status: string }[];
    };
    const selects = logged.requests.filter((r) => r.name === 'recipe/select');
    t.same(selects.map((r) => [r.via, r.status]).reverse(), [
      ['mqtt', 'ok'],
      ['mqtt', 'error'],
      ['http', 'ok'],
    ]);

    // the model no recipe wants any more is unloaded once the parts on it had time to end (deadline + 2 s)
    await waitFor(() => models()['washer-int8'] === 'unloaded', 10_000, 'washer-int8 unloaded again');
    // a model recipes unloaded is not promoted behind their back (its workers would outlive the next load)
    const int8 = agent.models.get('washer-int8');
    await t.rejects(int8 ? int8.promote('2') : Promise.reject(new Error('no model')), {
      code: 'EVA_ERR_MODEL_DEPLOY',
      message: /unloaded \(no active recipe uses it\)/,
    });

    // back to product-b, then a restart: the last selected recipe survives it
    await recipes.select('product-b');
    await agent.stop();
    const again = recipeAgent({ dir, brokerUrl: broker.url });
    running = again.agent;
    await again.agent.start();
    t.equal(again.agent.recipes?.activeRecipe.id, 'product-b', 'the selected recipe survives a restart');
    const after = await again.agent.cameras.get('cam-1')?.trigger('P-4');
    t.match(after, { recipe: 'product-b', verdict: 'OK' } satisfies Partial<Decision>);
  },
);

t.test(
  'a changeover whose model cannot load is refused, changes nothing, and raises RECIPE_REFUSED',
  async (t) => {
    const { agent } = recipeAgent({
      extraModels: '\n  - { id: broken, path: /nonexistent/model.onnx }',
      extraRecipes: '\n  - { id: product-c, number: 3, cameras: { cam-1: { model: broken } } }',
    });
    await agent.start();
    t.teardown(() => agent.stop());
    const recipes = agent.recipes;
    if (!recipes) throw new Error('recipes not built');
    t.equal(agent.status().models.find((m) => m.id === 'broken')?.state, 'unloaded', 'not loaded at start');
    const camera = agent.cameras.get('cam-1');
    if (!camera) throw new Error('no camera');
    const refused = recipes.select('product-c');
    // while it is tried: status shows the active recipe, and says which one is pending
    t.match(camera.snapshot(), { recipe: 'product-a', model: 'washer' });
    t.match(recipes.snapshot(), { active: { id: 'product-a' }, pending: 'product-c' });
    // a part triggered after the request belongs to product-c, waits for it, and is not judged by product-a
    const held = camera.trigger('P-0');
    await t.rejects(refused, {
      code: 'EVA_ERR_RECIPE_MODEL_UNAVAILABLE',
      message: /broken failed to load/,
    });
    t.match(await held, {
      recipe: 'product-c',
      verdict: 'ERROR',
      reason: /recipe product-c was asked for before this part and refused: .*broken failed to load/,
    });
    t.equal(recipes.activeRecipe.id, 'product-a');
    t.match(agent.alerts.active(), [{ code: 'RECIPE_REFUSED', active: true }]);
    t.match(await agent.cameras.get('cam-1')?.trigger('P-1'), { recipe: 'product-a', verdict: 'NG' });
    await recipes.select('product-b');
    t.same(agent.alerts.active(), [], 'a changeover that works clears the alert');
    t.throws(() => recipes.select('nope'), { code: 'EVA_ERR_RECIPE_UNKNOWN' });
  },
);
