import { READ_LIMITS, readTextLimited } from '../read-limited.js';
import { MAX_DEPTH, type PathKey } from './yaml-doc.js';

/**
 * `${NAME}` and `${NAME:-default}` in config strings (CONTRACT section 2, extended compatibly):
 * - `${NAME}`: the variable's value; unset is an error naming the key;
 * - `${NAME:-default}`: the default when NAME is unset or empty (the shell's rule);
 * - `NAME_FILE` (Docker and Kubernetes secrets): when NAME is unset and NAME_FILE names a file, its content,
 *   less one trailing newline; both set is an error (which one was meant?).
 * A value that is exactly one reference is typed by the schema afterwards (`port: ${PORT}` becomes a
 * number there: `wholeRefs` lists those paths); a reference inside a longer string stays text.
 */

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_REF = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

export interface Substituted {
  value: unknown;
  /** Paths whose whole value was one reference: the schema may read them as a number or a boolean. */
  wholeRefs: { path: PathKey[]; ref: string }[];
}

export function substituteEnv(
  root: unknown,
  env: NodeJS.ProcessEnv,
  report: (path: PathKey[], message: string) => void,
): Substituted {
  const wholeRefs: Substituted['wholeRefs'] = [];
  const resolveRef = (path: PathKey[], ref: string, name: string, fallback: string | undefined): string => {
    const value = env[name];
    const fileVar = `${name}_FILE`;
    const file = env[fileVar];
    if (value !== undefined && file !== undefined) {
      report(path, `both ${name} and ${fileVar} are set (referenced as ${ref}): set only one`);
      return ref;
    }
    if (value !== undefined && (value !== '' || fallback === undefined)) return value;
    if (file !== undefined && file !== '') {
      try {
        return readTextLimited(file, READ_LIMITS.secret, `${fileVar}`).replace(/\r?\n$/, '');
      } catch (err) {
        report(path, `${(err as Error).message} (referenced as ${ref})`);
        return ref;
      }
    }
    if (fallback !== undefined) return fallback;
    report(path, `environment variable ${name} is not set (referenced as ${ref}; or set ${fileVar})`);
    return ref;
  };
  const walk = (value: unknown, path: PathKey[]): unknown => {
    if (typeof value === 'string') {
      if (WHOLE_REF.test(value)) wholeRefs.push({ path, ref: value });
      return value.replace(ENV_REF, (ref, name: string, fallback: string | undefined) =>
        resolveRef(path, ref, name, fallback),
      );
    }
    if (value === null || typeof value !== 'object') return value;
    if (path.length >= MAX_DEPTH) {
      report(path, `nests deeper than ${MAX_DEPTH} levels`);
      return undefined;
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, i]));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, [...path, k])]));
  };
  return { value: walk(root, []), wholeRefs };
}
