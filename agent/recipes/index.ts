export { type CameraSetting, RecipeBook } from './book.js';
export {
  type RecipeModel,
  type RecipeProfile,
  RecipeService,
  type RecipeStatus,
  type SelectResult,
} from './recipe-service.js';
export { RecipeRecord, type RecipeState } from './record.js';
