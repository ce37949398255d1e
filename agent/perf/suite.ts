import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadManifest, type ModelManifest } from '../inference/index.js';
import { type AgentRunFigures, runAgent, subscribeDecisions } from './agent-run.js';
import { type LimitFigures, measureLimit } from './limit.js';
import type { PlainFigures, PlainJob } from './plain-script.js';
import { nodeArgsFor } from './scripts.js';
import { ratio, round } from './stats.js';

/** One row of the report: a model on a set of frames. */
export interface CaseSpec {
  /** the row's name, e.g. `mobilenetv3s` */
  id: string;
  modelPath: string;
  manifest?: string | undefined;
  /** the frames, all in `framesDir` (the folder the agent's cameras replay) */
  framesDir: string;
  files: string[];
  /** what the frames are, for the report: `32 generated 1920x1080 JPEGs` */
  framesLabel: string;
}

export interface SuiteOptions {
  brokerUrl: string;
  workDir: string;
  /** measured seconds of each plain and agent run, after `warmupSeconds` */
  seconds: number;
  warmupSeconds: number;
  /** the limit: passes over the frames for decode, seconds for inference and for both stages at once */
  decodePasses: number;
  limitSeconds: number;
  /** camera counts of the agent runs, e.g. [1, 4]; each runs continuous and at `halfLoad` of that rate */
  cameras: number[];
  /**
   * Rounds of (limit, plain, agent continuous), every other one in reverse order: the machine is shared, so
   * the figures are each measurement's median round and the ratios the median of each round's own ratio.
   */
  rounds: number;
  /** the share of the continuous rate offered in the partial-load runs (0.5) */
  halfLoad: number;
  /** the model's `workers` and `intraOpThreads` in the agent's config (the agent's defaults: 1 and 0) */
  workers: number;
  intraOpThreads: number;
  progress?: (line: string) => void;
}

export interface CaseFigures {
  id: string;
  model: { file: string; task: string; input: string; sizeMB: number };
  frames: { label: string; count: number; meanKB: number };
  limit: LimitFigures;
  plain: PlainFigures;
  /** keyed `1cam`, `1cam@50%`, `4cam`, `4cam@50%` */
  agent: Record<string, AgentRunFigures>;
  /** agent fps over plain fps and over the limit (both stages pipelined): the median of the rounds' ratios */
  ratios: Record<string, { vsPlain: number; vsLimit: number }>;
  /** each round's rates, for the spread (limit, plain and agent continuous run once per round) */
  rounds: { pipelinedFps: number; plainFps: number; agentFps: Record<string, number>; loadavg: number }[];
  loadavg: { start: number[]; end: number[] };
}

/** One round: the limit, the plain script and the continuous agent runs, one after the other. */
interface RoundFigures {
  limit: LimitFigures;
  plain: PlainFigures;
  agent: Record<string, AgentRunFigures>;
  /** the 1-minute load average at the round's end (the machine is shared) */
  loadavg: number;
}

function plainJob(spec: CaseSpec, manifest: ModelManifest, opts: SuiteOptions, dir: string): PlainJob {
  const { input } = manifest;
  const scores = manifest.outputs.find((o) => o.role === 'scores');
  return {
    modelPath: spec.modelPath,
    task: manifest.task,
    input: {
      name: input.name,
      width: input.width,
      height: input.height,
      layout: input.layout,
      colorOrder: input.colorOrder,
      resize: input.resize,
      padValue: input.padValue,
      scale: input.scale,
      mean: input.mean,
      std: input.std,
    },
    softmax: scores?.activation === 'softmax',
    labels: manifest.labels,
    // the agent's default rules: every label but `ok` is a defect
    ngClasses: manifest.labels.filter((l) => l !== 'ok'),
    confidence: manifest.detection.confidence,
    files: spec.files,
    brokerUrl: opts.brokerUrl,
    topic: `bench/plain-${process.pid}/decisions/cam-1`,
    dbPath: join(dir, 'plain.db'),
    warmupSeconds: opts.warmupSeconds,
    seconds: opts.seconds,
  };
}

/** The plain script as a process of its own; its figures come back as JSON on its stdout. */
async function runPlainProcess(job: PlainJob, dir: string): Promise<PlainFigures> {
  const jobFile = join(dir, 'plain-job.json');
  writeFileSync(jobFile, JSON.stringify(job));
  const { stdout } = await promisify(execFile)(process.execPath, [...nodeArgsFor('plain'), jobFile], {
    maxBuffer: 16 * 1024 * 1024,
    timeout: (job.warmupSeconds + job.seconds) * 1000 + 120_000,
  });
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as PlainFigures;
}

function describeInput(m: ModelManifest): string {
  const crop = m.input.resize === 'shortside-centercrop' && m.input.cropPct && m.input.cropPct < 1;
  return `${m.input.width}x${m.input.height} ${m.input.resize}${crop ? ` ${m.input.cropPct}` : ''}`;
}

/** The middle item by `key` (the lower middle of an even count): a whole measurement, never a blend. */
export function medianBy<T>(items: readonly T[], key: (t: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)] as T;
}

function median(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length / 2;
  return finite.length % 2
    ? (finite[Math.floor(mid)] as number)
    : round(((finite[mid - 1] as number) + (finite[mid] as number)) / 2);
}

export async function benchCase(spec: CaseSpec, opts: SuiteOptions): Promise<CaseFigures> {
  const say = opts.progress ?? (() => {});
  const { manifest } = loadManifest(spec.modelPath, spec.manifest);
  const frames = spec.files.map((f) => readFileSync(f));
  const dir = join(opts.workDir, spec.id.replace(/[^\w.-]/g, '_'));
  mkdirSync(dir, { recursive: true });
  const start = loadavg();
  const agentRun = (cameras: number, key: string, intervalFps?: number) =>
    runAgent({
      modelId: manifest.id,
      modelPath: spec.modelPath,
      manifest: spec.manifest,
      framesDir: spec.framesDir,
      cameras,
      intervalFps,
      workers: opts.workers,
      intraOpThreads: opts.intraOpThreads,
      brokerUrl: opts.brokerUrl,
      warmupSeconds: opts.warmupSeconds,
      seconds: opts.seconds,
      workDir: runDir(dir, key),
    });

  const rounds: RoundFigures[] = [];
  for (let r = 1; r <= opts.rounds; r++) {
    const round: Partial<RoundFigures> & { agent: Record<string, AgentRunFigures> } = { agent: {} };
    const steps: [string, () => Promise<void>][] = [
      [
        'limit (decode alone, session.run alone, both pipelined)',
        async () => {
          round.limit = await measureLimit(spec.modelPath, manifest, frames, {
            decodePasses: opts.decodePasses,
            seconds: opts.limitSeconds,
            intraOpThreads: opts.intraOpThreads,
          });
        },
      ],
      [
        'plain script',
        async () => {
          const job = plainJob(spec, manifest, opts, dir);
          // the broker forwards the plain script's decisions to a consumer too, as it does the agent's
          const consumer = await subscribeDecisions(opts.brokerUrl, job.topic);
          round.plain = await runPlainProcess(job, dir).finally(() => consumer.end());
        },
      ],
      ...opts.cameras.map((cameras): [string, () => Promise<void>] => [
        `agent, ${cameras} camera(s), continuous`,
        async () => {
          round.agent[`${cameras}cam`] = await agentRun(cameras, `${cameras}cam-round${r}`);
        },
      ]),
    ];
    // every other round in reverse order: a load that rises or falls through a round favours no side
    if (r % 2 === 0) steps.reverse();
    for (const [what, step] of steps) {
      say(`${spec.id}: round ${r}/${opts.rounds}: ${what}`);
      await step();
    }
    const done = { ...round, loadavg: round1(loadavg()[0] ?? Number.NaN) } as RoundFigures;
    rounds.push(done);
    say(`${spec.id}: round ${r}: ${describeRound(done)}`);
  }

  // each figure is the median round's (one whole measurement); a ratio is the median of the rounds' own
  const limit = medianBy(
    rounds.map((r) => r.limit),
    (l) => l.pipelined.fps,
  );
  const plain = medianBy(
    rounds.map((r) => r.plain),
    (p) => p.fps,
  );
  const agent: Record<string, AgentRunFigures> = {};
  const ratios: CaseFigures['ratios'] = {};
  for (const cameras of opts.cameras) {
    const key = `${cameras}cam`;
    const runs = rounds.map((r) => r.agent[key] as AgentRunFigures);
    const full = medianBy(runs, (a) => a.fps);
    agent[key] = full;
    ratios[key] = {
      vsPlain: median(rounds.map((r) => ratio(r.agent[key]?.fps, r.plain.fps))),
      vsLimit: median(rounds.map((r) => ratio(r.agent[key]?.fps, r.limit.pipelined.fps))),
    };
    const perCamera = (full.fps * opts.halfLoad) / cameras;
    const partial = `${key}@${Math.round(opts.halfLoad * 100)}%`;
    say(
      `${spec.id}: agent, ${cameras} camera(s) at ${round1(perCamera)} fps each (${partial} of ${full.fps} fps)`,
    );
    agent[partial] = await agentRun(cameras, partial, perCamera);
  }
  return {
    id: spec.id,
    model: {
      file: spec.modelPath,
      task: manifest.task,
      input: describeInput(manifest),
      sizeMB: round(statSync(spec.modelPath).size / 2 ** 20, 1),
    },
    frames: {
      label: spec.framesLabel,
      count: frames.length,
      meanKB: round(frames.reduce((s, f) => s + f.length, 0) / frames.length / 1024, 0),
    },
    limit,
    plain,
    agent,
    ratios,
    rounds: rounds.map((r) => ({
      pipelinedFps: r.limit.pipelined.fps,
      plainFps: r.plain.fps,
      agentFps: Object.fromEntries(Object.entries(r.agent).map(([k, a]) => [k, a.fps])),
      loadavg: r.loadavg,
    })),
    loadavg: { start: start.map((v) => round(v)), end: loadavg().map((v) => round(v)) },
  };
}

const round1 = (v: number) => round(v, 1);

function describeRound(r: RoundFigures): string {
  const agents = Object.entries(r.agent).map(([k, a]) => `agent ${k} ${a.fps}`);
  return `${[`limit pipelined ${r.limit.pipelined.fps}`, `plain ${r.plain.fps}`, ...agents].join(', ')} fps`;
}

function runDir(dir: string, key: string): string {
  const path = join(dir, `agent-${key.replace('%', 'pct').replace('@', '-')}`);
  mkdirSync(path, { recursive: true });
  return path;
}
