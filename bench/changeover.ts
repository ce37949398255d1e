/**
 * `npm run bench:changeover`: how long a recipe changeover takes, from `recipe/select` to the recipe being
 * active (what a PLC waits for before it triggers the next product's first part), with the new recipe's
 * model preloaded and loaded on demand. Real models (washer, washer-int8), real store, no broker needed.
 *   node --import tsx bench/changeover.ts [rounds]
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { Agent } from '../agent/app.js';
import { parseConfigText } from '../agent/config/index.js';
import { REPO, SAMPLES, tempDir, WASHER_MODEL } from '../test/helpers/agent-process.js';

const rounds = Number(process.argv[2] ?? 5);
const log = pino({ level: 'silent' });
const INT8 = join(REPO, 'models/washer-int8/model.onnx');
// a short deadline, so the models a switch leaves behind are unloaded soon (deadline + 2 s)
const DEADLINE_MS = 200;
const SWEEP_WAIT_MS = DEADLINE_MS + 2_500;

function config(preload: boolean) {
  const dir = tempDir('eva-changeover-');
  return parseConfigText(
    `agent: { id: changeover }
store: { path: ${dir}/agent.db }
mqtt: { url: "mqtt://127.0.0.1:1", reconnectMinMs: 60000, reconnectMaxMs: 60000 }
health: { listen: "127.0.0.1:0" }
models:
  - { id: washer, path: ${WASHER_MODEL} }
  - { id: washer-int8, path: ${INT8} }
cameras:
  - { id: cam-1, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: mqtt }, model: washer, deadlineMs: ${DEADLINE_MS} }
recipes:
  - { id: product-a, number: 1, preload: ${preload}, cameras: { cam-1: { model: washer } } }
  - { id: product-b, number: 2, preload: ${preload}, cameras: { cam-1: { model: washer-int8 } } }
`,
    'bench',
    {},
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? 0, min: s[0] ?? 0, max: s.at(-1) ?? 0 };
};

async function run(preload: boolean): Promise<{ select: number[]; firstPart: number[] }> {
  const agent = new Agent(config(preload), { log });
  await agent.start();
  const recipes = agent.recipes;
  const camera = agent.cameras.get('cam-1');
  if (!recipes || !camera) throw new Error('no recipes');
  const select: number[] = [];
  const firstPart: number[] = [];
  try {
    for (let i = 0; i < rounds * 2; i++) {
      if (!preload) await sleep(SWEEP_WAIT_MS); // the other recipe's model is unloaded again
      const target = recipes.activeRecipe.id === 'product-a' ? 'product-b' : 'product-a';
      const t0 = performance.now();
      await recipes.select(target);
      select.push(performance.now() - t0);
      const t1 = performance.now();
      await camera.trigger(`bench-${i}`);
      firstPart.push(performance.now() - t1);
    }
  } finally {
    await agent.stop();
  }
  return { select, firstPart };
}

const fmt = (xs: number[]) => {
  const s = stats(xs);
  return `median ${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)})`;
};
for (const preload of [true, false]) {
  const r = await run(preload);
  process.stdout.write(
    `changeover, ${preload ? 'preloaded      ' : 'loaded on demand'}, ${r.select.length} switches: select ${fmt(r.select)}; first part after it ${fmt(r.firstPart)}\n`,
  );
}
