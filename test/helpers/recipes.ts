import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from '../../agent/app.js';
import { parseConfigText } from '../../agent/config/index.js';
import { REPO, SAMPLES, tempDir, WASHER_MODEL } from './agent-process.js';
import { quietLog } from './fixtures.js';

export const WASHER_INT8_MODEL = join(REPO, 'models/washer-int8/model.onnx');

/**
 * A folder camera that always shows the same scratched washer (`0008.jpg`, looped), so what changes between
 * two parts is only the recipe: product-a (model washer, scratch and dent are NG) calls it NG; product-b
 * (model washer-int8, only dent is NG) calls it OK.
 */
export function scratchFolder(): string {
  const dir = join(tempDir('eva-scratch-'), 'frames');
  mkdirSync(dir);
  copyFileSync(join(SAMPLES, '0008.jpg'), join(dir, 'scratch.jpg'));
  return dir;
}

export interface RecipeAgentOptions {
  dir?: string;
  brokerUrl?: string;
  topicRoot?: string;
  /** The camera's trigger and anything after it on the camera line (e.g. a plc block). */
  camera?: string;
  preloadB?: boolean;
  /** Extra YAML appended at the end (extra recipes, models, opcua). */
  extra?: string;
  extraModels?: string;
  extraRecipes?: string;
  token?: string;
  /** More keys inside `mqtt: { ... }`, e.g. `, format: both, sparkplug: { groupId: g }`. */
  mqttExtra?: string;
}

export function recipeConfigText(o: RecipeAgentOptions & { dir: string }): string {
  return `agent: { id: recipe-test }
store: { path: ${o.dir}/agent.db }
mqtt: { url: "${o.brokerUrl ?? 'mqtt://127.0.0.1:1'}", topicRoot: ${o.topicRoot ?? 't/rcp'}, reconnectMinMs: 100, reconnectMaxMs: 500${o.mqttExtra ?? ''} }
health: { listen: "127.0.0.1:0"${o.token ? `, token: ${o.token}` : ''} }
models:
  - { id: washer, path: ${WASHER_MODEL} }
  - { id: washer-int8, path: ${WASHER_INT8_MODEL} }${o.extraModels ?? ''}
cameras:
  - { id: cam-1, source: { type: folder, path: ${scratchFolder()}, loop: true }, ${o.camera ?? 'trigger: { type: mqtt }'}, model: washer, deadlineMs: 3000, rules: { ngClasses: [scratch, dent] } }
recipes:
  - { id: product-a, number: 1, cameras: { cam-1: { model: washer } } }
  - { id: product-b, number: 2, preload: ${o.preloadB ? 'true' : 'false'}, cameras: { cam-1: { model: washer-int8, rules: { ngClasses: [dent], minScore: 0.6 } } } }${o.extraRecipes ?? ''}
activeRecipe: product-a
${o.extra ?? ''}`;
}

/** Builds (not starts) an Agent on the recipe config; the same `dir` is the same store (a restart). */
export function recipeAgent(o: RecipeAgentOptions = {}): { agent: Agent; dir: string } {
  const dir = o.dir ?? tempDir('eva-recipes-');
  const config = parseConfigText(recipeConfigText({ ...o, dir }), 'test', {});
  return { agent: new Agent(config, { log: quietLog }), dir };
}
