import t, { type Test } from 'tap';
import type { Decision } from '../../../agent/decision/index.js';
import { freePort, waitFor } from '../../helpers/net.js';
import { PlcMemory, startPlc } from '../../helpers/plc.js';
import { recipeAgent } from '../../helpers/recipes.js';

// the register map of this test's PLC: trigger counter, the recipe request, its echo and status
const TRIGGER = 0;
const RECIPE = 20;
const ECHO = 21;
const STATUS = 22;
const OK = 0;
const NG = 1;
const VALID = 2;

async function setup(t: Test, preloadB: boolean, recipeAddress: number) {
  const memory = new PlcMemory();
  const port = await freePort();
  const plc = await startPlc(memory, port);
  t.teardown(() => plc.stop());
  const { agent } = recipeAgent({
    preloadB,
    camera: `trigger: { type: plc }, plc: { host: 127.0.0.1, port: ${port}, pollMs: 10, resultValidMs: 50, trigger: { mode: triggerRegister, address: ${TRIGGER} }, recipe: { address: ${recipeAddress}, echo: ${ECHO}, status: ${STATUS} } }`,
  });
  await agent.start();
  t.teardown(() => agent.stop());
  await waitFor(() => memory.holding[ECHO] === 1, 10_000, 'the echo of the active recipe (product-a, 1)');
  const decisions = () => agent.store.list({ camera: 'cam-1', limit: 10 }).reverse();
  /** One part, as the PLC does it: optionally a recipe number first, then the trigger counter, in one scan. */
  const part = async (counter: number, recipe?: number): Promise<Decision> => {
    const before = decisions().length;
    if (recipe !== undefined) memory.holding[recipeAddress] = recipe;
    memory.holding[TRIGGER] = counter;
    await waitFor(() => decisions().length > before, 15_000, `the decision of part ${counter}`);
    await waitFor(() => memory.coils[VALID], 5_000, `resultValid for part ${counter}`);
    const outputs = { ok: memory.coils[OK], ng: memory.coils[NG] };
    await waitFor(() => memory.coils[VALID] === false, 5_000, 'the resultValid pulse to end');
    return Object.assign(decisions().at(-1) as Decision, { outputs });
  };
  return { memory, agent, part };
}

// the recipe register far from the trigger counter (read after it, in its own request), and next to it
// (both in one request: one PLC scan)
const cases = [
  { preloadB: true, recipeAddress: RECIPE },
  { preloadB: false, recipeAddress: RECIPE },
  { preloadB: false, recipeAddress: TRIGGER + 1 },
];
for (const { preloadB, recipeAddress } of cases) {
  const how = `product-b ${preloadB ? 'preloaded' : 'loaded on demand'}, recipe register ${recipeAddress}`;
  t.test(`the PLC switches recipe between two parts (${how})`, async (t) => {
    const { memory, agent, part } = await setup(t, preloadB, recipeAddress);

    const p1 = await part(1);
    t.match(p1, {
      recipe: 'product-a',
      verdict: 'NG',
      model: { id: 'washer' },
      outputs: { ok: false, ng: true },
    });

    // the PLC writes recipe 2 and triggers the next part in the same scan: that part is product-b's
    const p2 = await part(2, 2);
    t.match(p2, {
      recipe: 'product-b',
      verdict: 'OK',
      model: { id: 'washer-int8' },
      outputs: { ok: true, ng: false },
    });
    t.match(p2.reason, /top class scratch/, 'the same scratch, judged by product-b`s rules');
    await waitFor(() => memory.holding[ECHO] === 2, 5_000, 'the echo of product-b');
    await waitFor(() => memory.holding[STATUS] === 0, 5_000, 'status 0: the echo is what the PLC asked for');

    // and back, again between two parts
    const p3 = await part(3, 1);
    t.match(p3, { recipe: 'product-a', verdict: 'NG', model: { id: 'washer' } });
    await waitFor(() => memory.holding[ECHO] === 1, 5_000, 'the echo back at product-a');

    // a number no recipe has: refused (status 2), the echo and the judging stay with product-a
    memory.holding[recipeAddress] = 9;
    await waitFor(() => memory.holding[STATUS] === 2, 5_000, 'status 2: refused');
    t.equal(memory.holding[ECHO], 1);
    t.match(await part(4), { recipe: 'product-a', verdict: 'NG' });
    const plc = agent.status().plc[0];
    t.match(plc, {
      recipe: { requested: 9, echoed: 1, status: 'refused', lastRefusal: /unknown recipe number 9/ },
    });

    // the audit trail has the PLC's selects
    const selects =
      agent.status() && (await fetch(`http://127.0.0.1:${agent.http.port}/api/requests?limit=20`));
    const logged = ((await selects.json()) as { requests: { name: string; via: string; status: string }[] })
      .requests;
    t.same(
      logged
        .filter((r) => r.name === 'recipe/select')
        .map((r) => [r.via, r.status])
        .reverse(),
      [
        ['plc', 'ok'],
        ['plc', 'ok'],
        ['plc', 'error'],
      ],
    );
  });
}
