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
  /** agent fps over plain fps and over the limit (both stages pipelined), per continuous run */
  ratios: Record<string, { vsPlain: number; vsLimit: number }>;
  loadavg: { start: number[]; end: number[] };
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

export async function benchCase(spec: CaseSpec, opts: SuiteOptions): Promise<CaseFigures> {
  const say = opts.progress ?? (() => {});
  const { manifest } = loadManifest(spec.modelPath, spec.manifest);
  const frames = spec.files.map((f) => readFileSync(f));
  const dir = join(opts.workDir, spec.id.replace(/[^\w.-]/g, '_'));
  mkdirSync(dir, { recursive: true });
  const start = loadavg();

  say(`${spec.id}: limit (decode alone, session.run alone, both pipelined)`);
  const limit = await measureLimit(spec.modelPath, manifest, frames, {
    decodePasses: opts.decodePasses,
    seconds: opts.limitSeconds,
    intraOpThreads: opts.intraOpThreads,
  });
  say(
    `${spec.id}: limit decode p50 ${limit.decodeMs.p50} ms, infer p50 ${limit.inferMs.p50} ms, pipelined ${limit.pipelined.fps} fps`,
  );

  say(`${spec.id}: plain script, ${opts.seconds} s`);
  const job = plainJob(spec, manifest, opts, dir);
  // the broker forwards the plain script's decisions to a consumer too, as it does the agent's
  const consumer = await subscribeDecisions(opts.brokerUrl, job.topic);
  const plain = await runPlainProcess(job, dir).finally(() => consumer.end());
  say(`${spec.id}: plain ${plain.fps} fps (${consumer.seen.length} decisions reached the consumer)`);

  const agent: Record<string, AgentRunFigures> = {};
  for (const cameras of opts.cameras) {
    const base = {
      modelId: manifest.id,
      modelPath: spec.modelPath,
      manifest: spec.manifest,
      framesDir: spec.framesDir,
      cameras,
      workers: opts.workers,
      intraOpThreads: opts.intraOpThreads,
      brokerUrl: opts.brokerUrl,
      warmupSeconds: opts.warmupSeconds,
      seconds: opts.seconds,
    };
    const key = `${cameras}cam`;
    say(`${spec.id}: agent, ${cameras} camera(s), continuous, ${opts.seconds} s`);
    const full = await runAgent({ ...base, workDir: runDir(dir, key) });
    agent[key] = full;
    const perCamera = (full.fps * opts.halfLoad) / cameras;
    const partial = `${key}@${Math.round(opts.halfLoad * 100)}%`;
    say(`${spec.id}: agent ${full.fps} fps; now ${cameras} camera(s) at ${round(perCamera, 2)} fps each`);
    agent[partial] = await runAgent({ ...base, intervalFps: perCamera, workDir: runDir(dir, partial) });
  }
  const ratios: CaseFigures['ratios'] = {};
  for (const cameras of opts.cameras) {
    const fps = agent[`${cameras}cam`]?.fps;
    ratios[`${cameras}cam`] = { vsPlain: ratio(fps, plain.fps), vsLimit: ratio(fps, limit.pipelined.fps) };
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
    loadavg: { start: start.map((v) => round(v)), end: loadavg().map((v) => round(v)) },
  };
}

function runDir(dir: string, key: string): string {
  const path = join(dir, `agent-${key.replace('%', 'pct').replace('@', '-')}`);
  mkdirSync(path, { recursive: true });
  return path;
}
