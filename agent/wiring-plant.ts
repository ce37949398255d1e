import { dirname, join } from 'node:path';
import type { Camera } from './capture/index.js';
import type { Decision } from './decision/index.js';
import type { ModelDeployment } from './models/index.js';
import { OpcUaService } from './opcua/index.js';
import type { ModbusPlc, PlcRecipeLink } from './plc/index.js';
import { RecipeBook, RecipeRecord, RecipeService } from './recipes/index.js';
import type { Service } from './service.js';
import type { DecisionStore } from './store/index.js';
import { type MqttLink, type PlantRequests, StateTopics } from './sync/index.js';
import { type SparkplugChannel, SparkplugCommands } from './sync/sparkplug/index.js';
import type { Kernel } from './wiring.js';

/**
 * The plant integration (docs/recipes.md, docs/opcua.md): recipes and what plant systems reach the agent
 * through. Part of the composition root, like wiring.ts: builds, holds no runtime logic.
 */

/**
 * The recipes, when configured, and the services of the `models` stage: without recipes every model is
 * started by the lifecycle, as before; with them, the models some recipe uses are started (or left
 * unloaded) by the RecipeService, and the others by the lifecycle.
 */
export function buildRecipes(
  k: Kernel,
  parts: { models: ReadonlyMap<string, ModelDeployment>; store: DecisionStore },
): { recipes: RecipeService | undefined; modelServices: Service[] } {
  const { config } = k;
  if (config.recipes.length === 0) return { recipes: undefined, modelServices: [...parts.models.values()] };
  const book = new RecipeBook(config);
  const recipes = new RecipeService(book, {
    models: parts.models,
    record: new RecipeRecord(parts.store),
    clock: k.clock,
    log: k.log.child({ module: 'recipes' }),
    events: k.events,
    alerts: k.alerts,
  });
  const managed = book.managedModels();
  const others = [...parts.models.values()].filter((m) => !managed.has(m.id));
  return { recipes, modelServices: [...others, recipes] };
}

/** A PLC's recipe register selects through the request router (audited as `plc`) and echoes the active number. */
export function plcRecipeLink(
  recipes: RecipeService | undefined,
  plant: PlantRequests,
): PlcRecipeLink | undefined {
  if (!recipes) return undefined;
  return {
    select: (number) => plant.run('recipe/select', { recipe: number }, 'plc'),
    activeNumber: () => recipes.activeRecipe.number,
  };
}

/**
 * What plant systems bind to and command: the retained state topics (and the recipe in R/status), the
 * Sparkplug commands (when the edge node is on), and the OPC UA server (when `opcua.enabled`).
 */
export function buildPlantServices(
  k: Kernel,
  parts: {
    link: MqttLink;
    cameras: ReadonlyMap<string, Camera<Decision>>;
    plcs: ReadonlyMap<string, ModbusPlc>;
    sparkplug: SparkplugChannel | undefined;
    recipes: RecipeService | undefined;
    plant: PlantRequests;
    store: DecisionStore;
  },
): { services: Service[]; opcua: OpcUaService | undefined } {
  const { config, events, clock } = k;
  const { link, cameras, recipes, plant, store } = parts;
  const recipe = recipes && (() => recipes.activeRecipe);
  const log = (module: string) => k.log.child({ module });
  const services: Service[] = [
    new StateTopics(link, cameras, { events, clock, log: log('state'), ...(recipe ? { recipe } : {}) }),
  ];
  if (parts.sparkplug) {
    const plcs = [...parts.plcs.values()];
    const commands = new SparkplugCommands(parts.sparkplug, {
      requests: plant,
      cameras,
      ...(recipe ? { recipe } : {}),
      backlog: () => store.stats().backlog,
      mqttConnected: () => link.connected,
      plcConnected: () => (plcs.length === 0 ? null : plcs.every((p) => p.snapshot().connected)),
      alerts: () => k.alerts.active(),
      events,
      clock,
      log: log('sparkplug'),
    });
    // before the edge node is born, so the NBIRTH and DBIRTHs carry the command metrics
    parts.sparkplug.extend(commands);
    services.push(commands);
  }
  let opcua: OpcUaService | undefined;
  if (config.opcua.enabled) {
    const opcuaParts = {
      cameras,
      recipe,
      recipes: recipes && (() => recipes.snapshot().recipes),
      requests: plant,
      decision: (id: string) => store.getById(id),
    };
    const pkiDir = config.opcua.pkiDir ?? join(dirname(config.store.path), 'opcua-pki');
    opcua = new OpcUaService(config.opcua, opcuaParts, {
      pkiDir,
      agentId: config.agent.id,
      events,
      clock,
      log: log('opcua'),
    });
    services.push(opcua);
  }
  return { services, opcua };
}
