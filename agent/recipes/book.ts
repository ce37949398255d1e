import type { AgentConfig, RecipeConfig, RulesConfig } from '../config/index.js';
import { agentError } from '../errors.js';

/** What one camera judges with under one recipe: the camera's own keys, with the recipe's on top. */
export interface CameraSetting {
  modelId: string;
  rules: RulesConfig;
  deadlineMs: number;
}

/**
 * The configured recipes, read-only: which recipe a reference names, what each camera judges with under
 * it, and which models a set of recipes needs loaded. No state: RecipeService keeps which one is active.
 */
export class RecipeBook {
  constructor(private readonly config: AgentConfig) {}

  get recipes(): readonly RecipeConfig[] {
    return this.config.recipes;
  }

  get cameraIds(): string[] {
    return this.config.cameras.map((c) => c.id);
  }

  /** agent.yaml's `activeRecipe`, else the first recipe listed. */
  get configuredInitial(): RecipeConfig {
    const id = this.config.activeRecipe;
    return this.config.recipes.find((r) => r.id === id) ?? (this.config.recipes[0] as RecipeConfig);
  }

  has(id: string): boolean {
    return this.config.recipes.some((r) => r.id === id);
  }

  /** A recipe by id, or by the number a PLC writes; a refusal naming the recipes there are otherwise. */
  find(ref: string | number): RecipeConfig {
    const found = this.config.recipes.find((r) =>
      typeof ref === 'number' ? r.number === ref : r.id === ref,
    );
    if (found) return found;
    throw agentError('RECIPE_UNKNOWN', {
      recipe: ref,
      known: this.config.recipes.map((r) => `${r.id} (${r.number})`),
    });
  }

  setting(recipe: RecipeConfig, cameraId: string): CameraSetting {
    const camera = this.config.cameras.find((c) => c.id === cameraId);
    if (!camera) throw new Error(`no camera ${cameraId}`);
    const over = recipe.cameras[cameraId];
    return {
      modelId: over?.model ?? camera.model,
      rules: { ...camera.rules, ...over?.rules },
      deadlineMs: over?.deadlineMs ?? camera.deadlineMs,
    };
  }

  /** The models a recipe's cameras judge with. */
  modelsOf(recipe: RecipeConfig): Set<string> {
    return new Set(this.config.cameras.map((c) => this.setting(recipe, c.id).modelId));
  }

  /** Models some recipe uses: the ones recipes load and unload. Every other configured model stays loaded. */
  managedModels(): Set<string> {
    return new Set(this.config.recipes.flatMap((r) => [...this.modelsOf(r)]));
  }

  /** What must stay loaded: the models of these recipes, and those of every recipe marked `preload`. */
  wanted(...recipes: RecipeConfig[]): Set<string> {
    const keep = [...recipes, ...this.config.recipes.filter((r) => r.preload)];
    return new Set(keep.flatMap((r) => [...this.modelsOf(r)]));
  }

  /** The longest deadline of any camera under this recipe: a part started on it ends by then. */
  longestDeadline(recipe: RecipeConfig): number {
    return Math.max(...this.config.cameras.map((c) => this.setting(recipe, c.id).deadlineMs));
  }
}
