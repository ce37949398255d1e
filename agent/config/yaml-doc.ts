import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from 'yaml';

export type PathKey = string | number;

export interface YamlProblem {
  message: string;
  line?: number;
}

/** A YAML document read for the config: its plain value, or the problems that keep it from being one. */
export type YamlRead =
  | { ok: true; value: unknown; lineOf: (path: readonly PathKey[]) => number | undefined }
  | { ok: false; problems: YamlProblem[] };

/**
 * How deep the config may nest. agent.yaml is about five levels deep (cameras[0].plc.outputs.ok); anything far
 * deeper is a mistake or an attack, and a bound keeps every walk over the document finite.
 */
export const MAX_DEPTH = 32;
/** yaml's own guard against alias bombs ("billion laughs"): how many nodes aliases may expand to. */
const MAX_ALIAS_COUNT = 100;

export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    out += typeof key === 'number' ? `[${key}]` : out ? `.${key}` : key;
  }
  return out;
}

/**
 * Parses YAML into a plain value without ever throwing: syntax errors with their line, an alias with no
 * anchor before it, an anchor used inside itself (a cycle no plain value can hold), alias bombs and
 * nesting past MAX_DEPTH all come back as problems. Lines of keys are indexed once (a map of path to line),
 * so reporting thousands of unknown keys stays linear.
 */
export function readYaml(text: string): YamlRead {
  const lineCounter = new LineCounter();
  let doc: Document.Parsed;
  try {
    // yaml's own uniqueKeys check compares each key with every other (20,000 keys: seconds); duplicates are
    // found below, in the one linear walk that indexes lines
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  } catch (err) {
    // the parser itself gave up (e.g. nesting too deep for its stack): still a config problem, not a crash
    const why = /call stack/i.test((err as Error).message) ? 'it nests too deeply' : (err as Error).message;
    return { ok: false, problems: [{ message: `YAML could not be parsed: ${why}` }] };
  }
  const lineAt = (offset: number | undefined) =>
    offset === undefined ? undefined : lineCounter.linePos(offset).line;
  const problems: YamlProblem[] = doc.errors.map((err) => {
    const line = err.linePos?.[0]?.line ?? lineAt(err.pos[0]);
    const first = err.message.split('\n')[0] ?? '';
    // the parser's recursion gave out: say what that means for the file
    const message = /call stack/i.test(first) ? 'YAML nests too deeply to be read' : `YAML: ${first}`;
    return { message, ...(line ? { line } : {}) };
  });
  if (problems.length > 0) return { ok: false, problems };

  problems.push(...aliasProblems(doc, lineAt));
  const lines = indexLines(doc.contents, lineAt, problems);
  if (problems.length > 0) return { ok: false, problems };

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const message = (err as Error).message.includes('resource exhaustion')
      ? `YAML aliases expand too much (over ${MAX_ALIAS_COUNT} nodes): an alias bomb? Write the values out`
      : `YAML could not be read: ${(err as Error).message}`;
    return { ok: false, problems: [{ message }] };
  }
  const lineOf = (path: readonly PathKey[]) => {
    // the deepest node that exists on the path: a missing key is reported at its parent
    for (let depth = path.length; depth >= 0; depth--) {
      const line = lines.get(formatPath(path.slice(0, depth)));
      if (line !== undefined) return line;
    }
    return undefined;
  };
  return { ok: true, value, lineOf };
}

function aliasProblems(doc: Document.Parsed, lineAt: (offset?: number) => number | undefined) {
  const problems: YamlProblem[] = [];
  visit(doc, {
    Alias(_, alias) {
      const line = lineAt(alias.range?.[0]);
      const at = line ? { line } : {};
      const target = alias.resolve(doc) as Node | undefined;
      if (!target) {
        problems.push({
          message: `YAML alias *${alias.source} has no anchor &${alias.source} before it`,
          ...at,
        });
        return visit.SKIP;
      }
      const [start, end] = target.range ?? [0, 0];
      const aliasStart = alias.range?.[0] ?? -1;
      if (aliasStart >= start && aliasStart < end) {
        problems.push({
          message: `YAML alias *${alias.source} is used inside its own anchor: a cycle`,
          ...at,
        });
      }
      return visit.SKIP;
    },
  });
  return problems;
}

/**
 * formatted path -> line of its key (or of the item, in a sequence), for every node up to MAX_DEPTH; a key
 * given twice in one map is a problem (which one was meant?).
 */
function indexLines(
  root: unknown,
  lineAt: (offset?: number) => number | undefined,
  problems: YamlProblem[],
): Map<string, number> {
  const lines = new Map<string, number>();
  const walk = (node: unknown, path: PathKey[], line: number | undefined) => {
    if (line !== undefined && !lines.has(formatPath(path))) lines.set(formatPath(path), line);
    if (path.length >= MAX_DEPTH || isAlias(node)) return;
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const keyRange = (pair.key as Node | null)?.range ?? (pair.value as Node | null)?.range;
        const line = lineAt(keyRange?.[0]);
        if (seen.has(key)) {
          problems.push({
            message: `YAML: key "${key.slice(0, 60)}" is given twice in one map`,
            ...(line ? { line } : {}),
          });
        }
        seen.add(key);
        walk(pair.value, [...path, key], line);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        walk(item, [...path, i], lineAt((item as Node | null)?.range?.[0]));
      });
    }
  };
  walk(root, [], lineAt((root as Node | null)?.range?.[0]));
  return lines;
}
