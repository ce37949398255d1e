import { agentError } from '../errors.js';
import type { RequestHandlers } from './requests.js';

/** The recipes as requests reach them (recipes' RecipeService). */
export interface RequestableRecipes {
  select(recipe: string | number): Promise<unknown>;
}

/**
 * `recipe/select` (CONTRACT section 3): answered once the recipe is active (a changeover that loads a model
 * answers after the load), or refused with the reason; without recipes configured, every select is refused.
 */
export function recipeRequestHandlers(
  recipes: RequestableRecipes | undefined,
): Pick<RequestHandlers, 'recipe/select'> {
  return {
    'recipe/select': async ({ recipe }) => {
      if (!recipes)
        throw agentError('RECIPE_UNKNOWN', { recipe, known: ['none (no recipes are configured)'] });
      return recipes.select(recipe);
    },
  };
}
