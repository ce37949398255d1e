import type { z } from 'zod';
import type { PathKey } from './yaml-doc.js';

/**
 * Reads the config schema itself at a key path, so that messages can say what was meant: the keys allowed
 * where an unknown one stands ("did you mean"), and whether a value from `${ENV}` is meant as a number or a
 * boolean. It follows zod's own definitions (objects, arrays, unions, optional/default wrappers), choosing a
 * discriminated union's option by the document's own discriminator.
 */

type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  values?: unknown[];
  items?: z.ZodType[];
};

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (let i = 0; i < 16; i++) {
    const def = defOf(s);
    const inner = def.innerType ?? (def.type === 'pipe' ? def.in : undefined);
    if (!inner) return s;
    s = inner;
  }
  return s;
}

/** The option(s) of a union the document means: by its discriminator when it has one, else all of them. */
function options(schema: z.ZodType, raw: unknown): z.ZodType[] {
  const s = unwrap(schema);
  const def = defOf(s);
  if (def.type !== 'union' || !def.options) return [s];
  const key = def.discriminator;
  const tag = key && raw && typeof raw === 'object' ? (raw as Record<string, unknown>)[key] : undefined;
  const all = def.options.flatMap((o) => options(o, raw));
  if (key === undefined || tag === undefined) return all;
  const chosen = all.filter((o) => {
    const field = defOf(o).shape?.[key];
    return field !== undefined && (defOf(unwrap(field)).values ?? []).includes(tag);
  });
  return chosen.length > 0 ? chosen : all;
}

/** The schemas that may stand at `path` in `root` (the raw document guides union choices). */
export function schemasAt(schema: z.ZodType, root: unknown, path: readonly PathKey[]): z.ZodType[] {
  let current = options(schema, root);
  let raw = root;
  for (const key of path) {
    raw = raw && typeof raw === 'object' ? (raw as Record<PathKey, unknown>)[key] : undefined;
    const next: z.ZodType[] = [];
    for (const s of current) {
      const def = defOf(s);
      let child: z.ZodType | undefined;
      if (def.type === 'object' && typeof key === 'string') child = def.shape?.[key];
      else if (def.type === 'array' && typeof key === 'number') child = def.element;
      else if (def.type === 'tuple' && typeof key === 'number') child = def.items?.[key];
      else if (def.type === 'record') child = (def as unknown as { valueType: z.ZodType }).valueType;
      if (child) next.push(...options(child, raw));
    }
    current = next;
    if (current.length === 0) break;
  }
  return current;
}

/** The keys an object at `path` may have. */
export function keysAt(schema: z.ZodType, root: unknown, path: readonly PathKey[]): string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(schema, root, path)) {
    for (const k of Object.keys(defOf(s).shape ?? {})) keys.add(k);
  }
  return [...keys];
}

/** What a scalar at `path` is read as: a string from `${ENV}` is converted only where the schema says so. */
export function scalarKindAt(
  schema: z.ZodType,
  root: unknown,
  path: readonly PathKey[],
): 'number' | 'boolean' | 'other' {
  const kinds = new Set(
    schemasAt(schema, root, path).map((s) => {
      const def = defOf(s);
      if (def.type === 'number' || def.type === 'int') return 'number';
      if (def.type === 'boolean') return 'boolean';
      if (def.type === 'literal' && def.values?.every((v) => typeof v === 'number')) return 'number';
      return 'other';
    }),
  );
  // a key that is a number in one place and a string in another (none today) stays as written
  return kinds.size === 1 ? ([...kinds][0] as 'number' | 'boolean' | 'other') : 'other';
}

/** The allowed key closest to a mistyped one, if one is close enough to be what was meant. */
export function suggest(unknown: string, allowed: readonly string[]): string | undefined {
  const lower = unknown.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const key of allowed) {
    if (key.toLowerCase() === lower) return key;
    const d = distance(lower, key.toLowerCase());
    if (d < bestDistance) {
      best = key;
      bestDistance = d;
    }
  }
  // a third of the key's length, at least 1 and at most 3 edits: `urll` -> `url`, `fsp` -> `fps`
  const limit = Math.min(3, Math.max(1, Math.floor(unknown.length / 3)));
  return bestDistance <= limit ? best : undefined;
}

/** Damerau-Levenshtein (optimal string alignment) distance: swapped letters count as one edit. */
function distance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Number.POSITIVE_INFINITY;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    const prev = d[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}
