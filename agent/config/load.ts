import type { z } from 'zod';
import { AgentError, ErrorCodes } from '../errors.js';
import { READ_LIMITS, readTextLimited } from '../read-limited.js';
import { substituteEnv } from './env.js';
import { pathKindProblems } from './path-checks.js';
import { recipeCrossChecks } from './recipe-checks.js';
import { type AgentConfig, configSchema } from './schema.js';
import { keysAt, scalarKindAt, suggest } from './schema-walk.js';
import { formatPath, type PathKey, readYaml } from './yaml-doc.js';

export { formatPath } from './yaml-doc.js';

export interface ConfigProblem {
  /** Dotted key path, e.g. `cameras[0].trigger.fps`; empty for the document itself. */
  path: string;
  message: string;
  line?: number;
}

/**
 * At most this many problems are listed; the rest are counted. A file of 20,000 unknown keys still gets a
 * report a person can read (and the work to describe each problem stays bounded).
 */
export const MAX_PROBLEMS = 50;

/** Thrown when the config cannot be used; carries every problem found (up to MAX_PROBLEMS), not the first. */
export class ConfigError extends AgentError {
  readonly problems: readonly ConfigProblem[];
  /** How many problems there were, listed or not. */
  readonly total: number;

  constructor(file: string, problems: ConfigProblem[], total = problems.length) {
    const listed = problems.slice(0, MAX_PROBLEMS);
    const more = total > listed.length ? `\n  ... and ${total - listed.length} more` : '';
    super(ErrorCodes.CONFIG_INVALID, `${file}: ${total} problem(s)\n${formatProblems(listed)}${more}`);
    this.problems = listed;
    this.total = total;
  }
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems
    .map((p) => `  - ${p.path || '(document)'}${p.line ? ` (line ${p.line})` : ''}: ${p.message}`)
    .join('\n');
}

/** Reads (bounded), substitutes `${ENV}`, validates and freezes a config file. Throws ConfigError. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  let text: string;
  try {
    text = readTextLimited(file, READ_LIMITS.config, 'config file');
  } catch (err) {
    throw new ConfigError(file, [
      { path: '', message: `cannot read the config file: ${(err as Error).message}` },
    ]);
  }
  return parseConfigText(text, file, env);
}

export function parseConfigText(
  text: string,
  file = 'config',
  env: NodeJS.ProcessEnv = process.env,
): AgentConfig {
  const yaml = readYaml(text);
  if (!yaml.ok)
    throw new ConfigError(
      file,
      yaml.problems.map((p) => ({ path: '', ...p })),
    );

  const found: { path: readonly PathKey[]; message: string }[] = [];
  const { value: raw, wholeRefs } = substituteEnv(yaml.value ?? {}, env, (path, message) =>
    found.push({ path, message }),
  );
  // `fps: ${FPS}` is a number where the schema wants one: the variable's text is read as the schema says
  const fromEnv = new Map<string, string>();
  for (const { path, ref } of wholeRefs) {
    const text = getIn(raw, path);
    if (typeof text !== 'string' || text.includes('${')) continue;
    fromEnv.set(formatPath(path), `${ref} = ${JSON.stringify(text.slice(0, 40))}`);
    const typed = typedScalar(text, scalarKindAt(configSchema, raw, path));
    if (typed !== undefined) setIn(raw, path, typed);
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) found.push(...issueProblems(issue));
  }
  found.push(...crossChecks(raw));
  if (parsed.success && found.length === 0) found.push(...pathKindProblems(parsed.data));
  if (found.length > 0 || !parsed.success) {
    const problems = dedupe(
      found.map(({ path, message }) => {
        const formatted = formatPath(path);
        const line = yaml.lineOf(path);
        const env = fromEnv.get(formatted);
        return {
          path: formatted,
          // a value's problem names the variable it came from; a key's problem is about the key
          message:
            env && message !== UNKNOWN_KEY && !message.includes('${') ? `${message} (from ${env})` : message,
          ...(line ? { line } : {}),
        };
      }),
    );
    const sorted = sortByLine(problems);
    throw new ConfigError(file, withSuggestions(sorted.slice(0, MAX_PROBLEMS), raw), sorted.length);
  }
  return deepFreeze(parsed.data);
}

const UNKNOWN_KEY = 'unknown key';

function issueProblems(issue: z.core.$ZodIssue): { path: PathKey[]; message: string }[] {
  const path = issue.path.filter((k): k is PathKey => typeof k !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: [...path, key], message: UNKNOWN_KEY }));
  }
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
    return [{ path, message: `required (${issue.expected})` }];
  }
  return [{ path, message: issue.message }];
}

/** "did you mean": only for the problems listed, so a flood of unknown keys costs nothing extra. */
function withSuggestions(problems: ConfigProblem[], raw: unknown): ConfigProblem[] {
  return problems.map((p) => {
    if (p.message !== UNKNOWN_KEY) return p;
    const path = parsePath(p.path);
    const key = path.pop();
    if (typeof key !== 'string') return p;
    const allowed = keysAt(configSchema, raw, path);
    const guess = suggest(key, allowed);
    const message = guess
      ? `unknown key; did you mean "${guess}"?`
      : allowed.length > 0 && allowed.length <= 12
        ? `unknown key (allowed here: ${allowed.join(', ')})`
        : UNKNOWN_KEY;
    return { ...p, message };
  });
}

/** `cameras[0].trigger.fps` -> ['cameras', 0, 'trigger', 'fps'] (keys never contain '.' or '[': they are ids). */
function parsePath(path: string): PathKey[] {
  const out: PathKey[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g))
    out.push(m[2] !== undefined ? Number(m[2]) : (m[1] as string));
  return out;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEANS: Record<string, boolean> = {
  true: true,
  false: false,
  yes: true,
  no: false,
  on: true,
  off: false,
};

function typedScalar(text: string, kind: 'number' | 'boolean' | 'other'): number | boolean | undefined {
  const t = text.trim();
  if (kind === 'number' && NUMBER.test(t)) return Number(t);
  if (kind === 'boolean') return BOOLEANS[t.toLowerCase()];
  return undefined;
}

function getIn(root: unknown, path: readonly PathKey[]): unknown {
  let v = root;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<PathKey, unknown>)[k] : undefined;
  return v;
}

function setIn(root: unknown, path: readonly PathKey[], value: unknown): void {
  const parent = getIn(root, path.slice(0, -1));
  const key = path[path.length - 1];
  if (parent && typeof parent === 'object' && key !== undefined)
    (parent as Record<PathKey, unknown>)[key] = value;
}

/** Checks that span several keys; run on the raw document so they report alongside schema errors. */
function crossChecks(raw: unknown): { path: PathKey[]; message: string }[] {
  const out: { path: PathKey[]; message: string }[] = [];
  if (!raw || typeof raw !== 'object') return out;
  const doc = raw as Record<string, unknown>;
  const models = Array.isArray(doc.models) ? (doc.models as Record<string, unknown>[]) : [];
  const cameras = Array.isArray(doc.cameras) ? (doc.cameras as Record<string, unknown>[]) : [];
  const modelIds = new Set<unknown>();
  models.forEach((m, i) => {
    if (m && modelIds.has(m.id))
      out.push({ path: ['models', i, 'id'], message: `duplicate model id "${m.id}"` });
    modelIds.add(m?.id);
  });
  const cameraIds = new Set<unknown>();
  cameras.forEach((c, i) => {
    if (!c || typeof c !== 'object') return;
    if (cameraIds.has(c.id))
      out.push({ path: ['cameras', i, 'id'], message: `duplicate camera id "${c.id}"` });
    cameraIds.add(c.id);
    if (typeof c.model === 'string' && !modelIds.has(c.model)) {
      out.push({ path: ['cameras', i, 'model'], message: `no model with id "${c.model}" under models` });
    }
    const trigger = c.trigger as Record<string, unknown> | undefined;
    if (trigger?.type === 'plc' && !c.plc) {
      out.push({ path: ['cameras', i, 'plc'], message: 'required when trigger.type is plc' });
    }
    if (c.plc && trigger && trigger.type !== 'plc') {
      out.push({
        path: ['cameras', i, 'trigger', 'type'],
        message: 'must be plc when the camera has a plc block',
      });
    }
    const rules = c.rules as Record<string, unknown> | undefined;
    if (rules && typeof rules.minScore === 'number' && typeof rules.uncertainBelow === 'number') {
      if (rules.uncertainBelow > rules.minScore) {
        out.push({
          path: ['cameras', i, 'rules', 'uncertainBelow'],
          message: 'must not be above rules.minScore',
        });
      }
    }
  });
  out.push(...recipeCrossChecks(doc));
  const mqtt = doc.mqtt as Record<string, unknown> | undefined;
  // without a group the edge node has no topics: refuse rather than silently publish no Sparkplug at all
  if (mqtt && (mqtt.format === 'sparkplug' || mqtt.format === 'both') && mqtt.sparkplug === undefined) {
    out.push({
      path: ['mqtt', 'sparkplug', 'groupId'],
      message: `is required when mqtt.format is ${mqtt.format}`,
    });
  }
  return out;
}

function sortByLine(problems: ConfigProblem[]): ConfigProblem[] {
  return [...problems].sort(
    (a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER),
  );
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** The MQTT topic root: `mqtt.topicRoot`, else built from agent.site and agent.id. */
export function topicRootOf(config: AgentConfig): string {
  if (config.mqtt.topicRoot) return config.mqtt.topicRoot;
  const s = config.agent.site;
  return s
    ? `${s.enterprise}/${s.site}/${s.area}/${s.line}/edge/${config.agent.id}`
    : `edge/${config.agent.id}`;
}
