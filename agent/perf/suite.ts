import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { loadManifest, type ModelManifest } from '../inference/index.js';
import { type AgentHandle, type AgentRunSpec, startAgent } from './agent-run.js';
import { startLimit, startPlain } from './contenders.js';
import { type AgentRunFigures, agentFigures, type PlainFigures, plainFigures } from './figures.js';
import { type LimitFigures, measureStages } from './limit.js';
import type { PlainJob } from './plain-script.js';
import { ratio, round } from './stats.js';
import { type Contender, median, oneTurn, rateIn, takeTurns } from './turns.js';

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
  /**
   * Turns (turns.ts): the pipelined limit, the plain script and the agent (one per camera count, continuous)
   * run in turns of `turnSeconds`, `cycles` times, each after `settleSeconds` of running unmeasured.
   */
  cycles: number;
  turnSeconds: number;
  settleSeconds: number;
  /** seconds each process runs after its first frame before the turns begin */
  warmupSeconds: number;
  /** measured seconds of each partial-load run (alone, not in turns) */
  seconds: number;
  /** the stages alone: passes over the frames for decode, seconds of `session.run` */
  decodePasses: number;
  limitSeconds: number;
  /** camera counts of the agent, e.g. [1, 4]; each runs continuous (in turns) and at `halfLoad` of that rate */
  cameras: number[];
  /** the share of the continuous rate offered in the partial-load runs (0.5) */
  halfLoad: number;
  /** > 0: then the agent alone, continuous, with the most cameras, this long (memory growth: `Nx soak`) */
  soakSeconds?: number | undefined;
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
  /** keyed `1cam`, `4cam` (continuous, in turns), `1cam@50%`, `4cam@50%` (alone), `4cam soak` (alone, asked) */
  agent: Record<string, AgentRunFigures>;
  /** agent fps over plain fps and over the pipelined limit: the median of each cycle's own ratio */
  ratios: Record<string, { vsPlain: number; vsLimit: number }>;
  /** frames/s of each contender in each cycle's turn: `limit`, `plain`, `1cam`, `4cam` */
  cycles: Record<string, number[]>;
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
    topic: `bench/plain-${process.pid}-${Date.now()}/decisions/cam-1`,
    dbPath: join(dir, 'plain.db'),
  };
}

function describeInput(m: ModelManifest): string {
  const crop = m.input.resize === 'shortside-centercrop' && m.input.cropPct && m.input.cropPct < 1;
  return `${m.input.width}x${m.input.height} ${m.input.resize}${crop ? ` ${m.input.cropPct}` : ''}`;
}

function runDir(dir: string, key: string): string {
  const path = join(dir, `agent-${key.replace('%', 'pct').replace('@', '-')}`);
  mkdirSync(path, { recursive: true });
  return path;
}

/** How often the soak run notes the agent's RSS. */
const SOAK_RSS_EVERY_S = 30;

/** Stops a started process now: it must not run during the next one's warm-up. */
const pause = (pid: number) => process.kill(pid, 'SIGSTOP');

export async function benchCase(spec: CaseSpec, opts: SuiteOptions): Promise<CaseFigures> {
  const say = (line: string) => opts.progress?.(`${spec.id}: ${line}`);
  const { manifest } = loadManifest(spec.modelPath, spec.manifest);
  const frames = spec.files.map((f) => readFileSync(f));
  const dir = join(opts.workDir, spec.id.replace(/[^\w.-]/g, '_'));
  mkdirSync(dir, { recursive: true });
  const start = loadavg();
  const agentSpec = (cameras: number, key: string, intervalFps?: number): AgentRunSpec => ({
    modelId: manifest.id,
    modelPath: spec.modelPath,
    manifest: spec.manifest,
    framesDir: spec.framesDir,
    cameras,
    intervalFps,
    workers: opts.workers,
    intraOpThreads: opts.intraOpThreads,
    brokerUrl: opts.brokerUrl,
    workDir: runDir(dir, key),
    warmupSeconds: opts.warmupSeconds,
  });

  say('decode alone, then session.run alone');
  const stages = await measureStages(spec.modelPath, manifest, frames, {
    decodePasses: opts.decodePasses,
    seconds: opts.limitSeconds,
    intraOpThreads: opts.intraOpThreads,
  });
  say(`decode p50 ${stages.decodeMs.p50} ms, infer p50 ${stages.inferMs.p50} ms`);

  const finishers: (() => Promise<unknown>)[] = [];
  let steps: PlainFigures['stepsMs'] | undefined;
  const agents: Record<string, AgentHandle> = {};
  try {
    say('starting the pipelined limit, the plain script and the agent(s), each warmed up alone');
    const limit = await startLimit(
      {
        modelPath: spec.modelPath,
        manifest: spec.manifest,
        files: spec.files,
        intraOpThreads: opts.intraOpThreads,
      },
      dir,
      opts.warmupSeconds,
    );
    finishers.push(limit.finish);
    pause(limit.pid);
    const plain = await startPlain(plainJob(spec, manifest, opts, dir), dir, opts.warmupSeconds);
    finishers.push(async () => {
      steps = await plain.finish();
    });
    pause(plain.pid);
    const contenders: Contender[] = [
      { name: 'limit', pid: limit.pid },
      { name: 'plain', pid: plain.pid },
    ];
    for (const cameras of opts.cameras) {
      const key = `${cameras}cam`;
      const handle = await startAgent(agentSpec(cameras, key));
      finishers.push(handle.stop);
      pause(handle.pid);
      agents[key] = handle;
      contenders.push({ name: key, pid: handle.pid, window: handle.loopLag });
    }
    say(`${opts.cycles} cycles of ${opts.turnSeconds} s turns: ${contenders.map((c) => c.name).join(', ')}`);
    const turns = await takeTurns(contenders, opts, say);
    for (const finish of finishers.splice(0).reverse()) await finish();

    const limitTurns = turns.limit ?? [];
    const plainTurns = turns.plain ?? [];
    const limitRate = rateIn(limitTurns, limit.frames);
    const plainRate = rateIn(
      plainTurns,
      plain.seen.map((d) => d.at),
    );
    const cycles: Record<string, number[]> = { limit: limitRate.perCycle, plain: plainRate.perCycle };
    const agent: Record<string, AgentRunFigures> = {};
    const ratios: CaseFigures['ratios'] = {};
    for (const cameras of opts.cameras) {
      const key = `${cameras}cam`;
      const handle = agents[key] as AgentHandle;
      const agentTurns = turns[key] ?? [];
      agent[key] = agentFigures(agentTurns, handle.seen, { cameras, offeredFps: null });
      const perCycle = rateIn(
        agentTurns,
        handle.seen.filter((d) => !d.degraded).map((d) => d.at),
      ).perCycle;
      cycles[key] = perCycle;
      ratios[key] = {
        vsPlain: median(perCycle.map((fps, i) => ratio(fps, plainRate.perCycle[i]))),
        vsLimit: median(perCycle.map((fps, i) => ratio(fps, limitRate.perCycle[i]))),
      };
    }
    for (const [key, fps] of Object.entries(cycles)) say(`${key}: ${fps.join(', ')} fps by cycle`);

    for (const cameras of opts.cameras) {
      const full = agent[`${cameras}cam`] as AgentRunFigures;
      const perCamera = (full.fps * opts.halfLoad) / cameras;
      const key = `${cameras}cam@${Math.round(opts.halfLoad * 100)}%`;
      say(`agent alone, ${cameras} camera(s) at ${round(perCamera, 1)} fps each (${key} of ${full.fps} fps)`);
      const handle = await startAgent(agentSpec(cameras, key, perCamera));
      try {
        const turn = await oneTurn({ name: key, pid: handle.pid, window: handle.loopLag }, opts.seconds);
        agent[key] = agentFigures([turn], handle.seen, {
          cameras,
          offeredFps: round(perCamera * cameras, 1),
        });
      } finally {
        await handle.stop();
      }
    }
    if (opts.soakSeconds) {
      const cameras = Math.max(...opts.cameras);
      const key = `${cameras}cam soak`;
      say(`agent alone, ${cameras} camera(s), continuous, for ${opts.soakSeconds} s (memory over time)`);
      const handle = await startAgent(agentSpec(cameras, key));
      try {
        const turn = await oneTurn(
          { name: key, pid: handle.pid, window: handle.loopLag },
          opts.soakSeconds,
          SOAK_RSS_EVERY_S,
        );
        agent[key] = agentFigures([turn], handle.seen, { cameras, offeredFps: null });
      } finally {
        await handle.stop();
      }
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
      limit: { ...stages, pipelined: { fps: limitRate.fps } },
      plain: plainFigures(plainTurns, plain.seen, steps as PlainFigures['stepsMs']),
      agent,
      ratios,
      cycles,
      loadavg: { start: start.map((v) => round(v)), end: loadavg().map((v) => round(v)) },
    };
  } finally {
    for (const finish of finishers.reverse()) await finish().catch(() => undefined);
  }
}
