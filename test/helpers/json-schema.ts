/**
 * A small JSON Schema (draft 2020-12) validator for the schemas the project publishes in docs/: enough
 * keywords for what zod emits, and a hard error on any keyword it does not know, so a schema can never be
 * "passed" by a validator that skipped a constraint. Returns every problem with its JSON pointer.
 */
type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', 'default', 'examples', '$comment']);
const MAX_DEPTH = 64;

export function validate(schema: unknown, value: unknown): string[] {
  const problems: string[] = [];
  check(schema as Schema, value, '', problems, 0);
  return problems;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(want: string, v: unknown): boolean {
  const got = typeOf(v);
  return want === got || (want === 'number' && got === 'integer');
}

function check(s: Schema, v: unknown, at: string, problems: string[], depth: number): void {
  if (depth > MAX_DEPTH) throw new Error(`schema nests deeper than ${MAX_DEPTH} at ${at}`);
  if (typeof s === 'boolean') {
    if (!s) problems.push(`${at || '/'}: not allowed`);
    return;
  }
  const here = at || '/';
  for (const [key, rule] of Object.entries(s)) {
    if (ANNOTATIONS.has(key)) continue;
    switch (key) {
      case 'type': {
        const types = Array.isArray(rule) ? (rule as string[]) : [rule as string];
        if (!types.some((t) => typeMatches(t, v)))
          problems.push(`${here}: expected ${types.join(' or ')}, got ${typeOf(v)}`);
        break;
      }
      case 'const':
        if (JSON.stringify(v) !== JSON.stringify(rule))
          problems.push(`${here}: expected ${JSON.stringify(rule)}`);
        break;
      case 'enum':
        if (!(rule as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(v))) {
          problems.push(`${here}: ${JSON.stringify(v)} is not one of ${JSON.stringify(rule)}`);
        }
        break;
      case 'minimum':
        if (typeof v === 'number' && v < (rule as number)) problems.push(`${here}: ${v} < ${rule}`);
        break;
      case 'maximum':
        if (typeof v === 'number' && v > (rule as number)) problems.push(`${here}: ${v} > ${rule}`);
        break;
      case 'exclusiveMinimum':
        if (typeof v === 'number' && v <= (rule as number)) problems.push(`${here}: ${v} <= ${rule}`);
        break;
      case 'exclusiveMaximum':
        if (typeof v === 'number' && v >= (rule as number)) problems.push(`${here}: ${v} >= ${rule}`);
        break;
      case 'minLength':
        if (typeof v === 'string' && v.length < (rule as number))
          problems.push(`${here}: shorter than ${rule}`);
        break;
      case 'maxLength':
        if (typeof v === 'string' && v.length > (rule as number))
          problems.push(`${here}: longer than ${rule}`);
        break;
      case 'pattern':
        if (typeof v === 'string' && !new RegExp(rule as string, 'u').test(v))
          problems.push(`${here}: does not match ${rule}`);
        break;
      case 'minItems':
        if (Array.isArray(v) && v.length < (rule as number))
          problems.push(`${here}: fewer than ${rule} items`);
        break;
      case 'maxItems':
        if (Array.isArray(v) && v.length > (rule as number))
          problems.push(`${here}: more than ${rule} items`);
        break;
      case 'items':
        if (Array.isArray(v)) {
          for (const [i, item] of v.entries()) check(rule as Schema, item, `${at}/${i}`, problems, depth + 1);
        }
        break;
      case 'required':
        if (typeOf(v) === 'object') {
          for (const name of rule as string[]) {
            if (!Object.hasOwn(v as object, name))
              problems.push(`${here}: missing required property "${name}"`);
          }
        }
        break;
      case 'properties':
        if (typeOf(v) === 'object') {
          for (const [name, sub] of Object.entries(rule as Record<string, Schema>)) {
            if (Object.hasOwn(v as object, name)) {
              check(sub, (v as Record<string, unknown>)[name], `${at}/${name}`, problems, depth + 1);
            }
          }
        }
        break;
      case 'additionalProperties':
        if (typeOf(v) === 'object') {
          const known = new Set(Object.keys((s.properties as object | undefined) ?? {}));
          for (const [name, sub] of Object.entries(v as Record<string, unknown>)) {
            if (known.has(name)) continue;
            if (rule === false) problems.push(`${here}: property "${name}" is not allowed`);
            else if (rule !== true) check(rule as Schema, sub, `${at}/${name}`, problems, depth + 1);
          }
        }
        break;
      case 'propertyNames':
        if (typeOf(v) === 'object') {
          for (const name of Object.keys(v as object))
            check(rule as Schema, name, `${at}/${name}`, problems, depth + 1);
        }
        break;
      case 'anyOf':
      case 'oneOf': {
        const passing = (rule as Schema[]).filter((sub) => {
          const p: string[] = [];
          check(sub, v, at, p, depth + 1);
          return p.length === 0;
        }).length;
        if (passing === 0 || (key === 'oneOf' && passing > 1)) {
          problems.push(`${here}: matches ${passing} of the ${key} alternatives`);
        }
        break;
      }
      case 'allOf':
        for (const sub of rule as Schema[]) check(sub, v, at, problems, depth + 1);
        break;
      default:
        throw new Error(
          `json-schema.ts does not know the keyword "${key}" (at ${here}): teach it before trusting it`,
        );
    }
  }
}
