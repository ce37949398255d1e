import { readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import { AgentError, ErrorCodes } from '../errors.js';
import { recipeCrossChecks } from './recipe-checks.js';
import { type AgentConfig, configSchema } from './schema.js';

export interface ConfigProblem {
  /** Dotted key path, e.g. `cameras[0].trigger.fps`; empty for the document itself. */
  path: string;
  message: string;
  line?: number;
}

/** Thrown when the config cannot be used; carries every problem found, not just the first. */
export class ConfigError extends AgentError {
  readonly problems: readonly ConfigProblem[];

  constructor(file: string, problems: ConfigProblem[]) {
    super(ErrorCodes.CONFIG_INVALID, `${file}: ${problems.length} problem(s)\n${formatProblems(problems)}`);
    this.problems = problems;
  }
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems
    .map((p) => `  - ${p.path || '(document)'}${p.line ? ` (line ${p.line})` : ''}: ${p.message}`)
    .join('\n');
}

type PathKey = string | number;

export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    out += typeof key === 'number' ? `[${key}]` : out ? `.${key}` : key;
  }
  return out;
}

/** Reads, substitutes `${ENV}`, validates and freezes a config file. Throws ConfigError with all problems. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
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
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = [];
  for (const err of doc.errors) {
    const line = err.linePos?.[0]?.line;
    problems.push({ path: '', message: `YAML: ${err.message.split('\n')[0]}`, ...(line ? { line } : {}) });
  }
  if (problems.length > 0) throw new ConfigError(file, problems);

  const lineOf = (path: readonly PathKey[]): number | undefined => {
    // the deepest node that exists on the path: a missing key is reported at its parent
    for (let depth = path.length; depth >= 0; depth--) {
      const node = doc.getIn(path.slice(0, depth), true) as Node | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
      if (depth === 0 && (isMap(doc.contents) || isSeq(doc.contents)) && doc.contents.range) {
        return lineCounter.linePos(doc.contents.range[0]).line;
      }
    }
    return undefined;
  };
  const problem = (path: readonly PathKey[], message: string): ConfigProblem => {
    const line = lineOf(path);
    return { path: formatPath(path), message, ...(line ? { line } : {}) };
  };

  const raw = substituteEnv(doc.toJS() ?? {}, env, [], (path, msg) => problems.push(problem(path, msg)));
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(...issueProblems(issue, problem));
  }
  problems.push(...crossChecks(raw).map((p) => problem(p.path, p.message)));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, sortByLine(dedupe(problems)));
  return deepFreeze(parsed.data);
}

function issueProblems(
  issue: z.core.$ZodIssue,
  problem: (path: readonly PathKey[], message: string) => ConfigProblem,
): ConfigProblem[] {
  const path = issue.path.filter((k): k is PathKey => typeof k !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => problem([...path, key], 'unknown key'));
  }
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
    return [problem(path, `required (${issue.expected})`)];
  }
  return [problem(path, issue.message)];
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

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: PathKey[],
  report: (path: PathKey[], message: string) => void,
): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (ref, name: string) => {
      const found = env[name];
      if (found === undefined) {
        report(path, `environment variable ${name} is not set (referenced as ${ref})`);
        return ref;
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...path, i], report));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...path, k], report)]),
    );
  }
  return value;
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
