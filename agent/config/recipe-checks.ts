/**
 * The cross-key checks of `recipes:` and `activeRecipe` (load.ts runs them on the raw document, beside the
 * schema's own errors, so every problem is reported at once): each recipe names configured cameras and
 * models, ids and PLC numbers are unique, and the rules a recipe leaves a camera with still make sense.
 */

type PathKey = string | number;
type Problem = { path: PathKey[]; message: string };
type Doc = Record<string, unknown>;

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

export function recipeCrossChecks(doc: Doc): Problem[] {
  const out: Problem[] = [];
  const recipes = Array.isArray(doc.recipes) ? doc.recipes : [];
  const cameras = new Map<unknown, Doc>();
  for (const c of Array.isArray(doc.cameras) ? doc.cameras : []) if (isObject(c)) cameras.set(c.id, c);
  const models = new Set<unknown>();
  for (const m of Array.isArray(doc.models) ? doc.models : []) if (isObject(m)) models.add(m.id);

  const ids = new Set<unknown>();
  const numbers = new Set<unknown>();
  recipes.forEach((r, i) => {
    if (!isObject(r)) return;
    if (ids.has(r.id)) out.push({ path: ['recipes', i, 'id'], message: `duplicate recipe id "${r.id}"` });
    ids.add(r.id);
    if (numbers.has(r.number)) {
      out.push({ path: ['recipes', i, 'number'], message: `recipe number ${r.number} is used twice` });
    }
    numbers.add(r.number);
    if (!isObject(r.cameras)) return;
    for (const [cameraId, over] of Object.entries(r.cameras)) {
      const path = ['recipes', i, 'cameras', cameraId];
      const camera = cameras.get(cameraId);
      if (!camera) {
        out.push({ path, message: `no camera with id "${cameraId}" under cameras` });
        continue;
      }
      if (!isObject(over)) continue;
      if (typeof over.model === 'string' && !models.has(over.model)) {
        out.push({ path: [...path, 'model'], message: `no model with id "${over.model}" under models` });
      }
      const merged = {
        ...(isObject(camera.rules) ? camera.rules : {}),
        ...(isObject(over.rules) ? over.rules : {}),
      };
      const minScore = typeof merged.minScore === 'number' ? merged.minScore : 0.5;
      const uncertainBelow = typeof merged.uncertainBelow === 'number' ? merged.uncertainBelow : 0.2;
      if (uncertainBelow > minScore) {
        out.push({
          path: [...path, 'rules'],
          message: `with camera ${cameraId}'s rules this gives uncertainBelow ${uncertainBelow} above minScore ${minScore}`,
        });
      }
    }
  });
  if (doc.activeRecipe !== undefined) {
    if (recipes.length === 0) {
      out.push({ path: ['activeRecipe'], message: 'names a recipe, but no recipes are configured' });
    } else if (!ids.has(doc.activeRecipe)) {
      out.push({
        path: ['activeRecipe'],
        message: `no recipe with id "${String(doc.activeRecipe)}"; recipes: ${[...ids].join(', ')}`,
      });
    }
  }
  if (recipes.length === 0) {
    (Array.isArray(doc.cameras) ? doc.cameras : []).forEach((c, i) => {
      if (isObject(c) && isObject(c.plc) && c.plc.recipe !== undefined) {
        out.push({ path: ['cameras', i, 'plc', 'recipe'], message: 'needs recipes: none are configured' });
      }
    });
  }
  const opcua = isObject(doc.opcua) ? doc.opcua : undefined;
  const modes = Array.isArray(opcua?.securityModes) ? opcua.securityModes : [];
  if (opcua?.allowAnonymous === false && (!Array.isArray(opcua.users) || opcua.users.length === 0)) {
    out.push({
      path: ['opcua', 'users'],
      message: 'required when allowAnonymous is false (nobody could log in)',
    });
  }
  if (new Set(modes).size !== modes.length) {
    out.push({ path: ['opcua', 'securityModes'], message: 'lists a mode twice' });
  }
  return out;
}
