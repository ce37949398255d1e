import type { Seen } from './agent-run.js';
import type { PlainSteps } from './plain-script.js';
import { round, type Spread, spread } from './stats.js';
import { cpuIn, median, rateIn, type Turn } from './turns.js';

/** The agent in one configuration (cameras, trigger), over its measured turns. */
export interface AgentRunFigures {
  cameras: number;
  trigger: 'continuous' | 'interval';
  /** interval triggers: the rate asked for, all cameras together */
  offeredFps: number | null;
  /** model verdicts that reached the consumer in the turns (deadline fallbacks not counted: `degraded`) */
  decisions: number;
  fps: number;
  /** decision.triggeredAt -> arrival at the consumer, for frames triggered inside a turn */
  latencyMs: Spread;
  /** decision.triggeredAt -> decision.decidedAt (the verdict, before it is stored and published) */
  decideMs: Spread;
  /** the median turn's p99, and the longest lag seen in any turn */
  loopLagMs: { p99: number; max: number };
  cpuMsPerDecision: { process: number; main: number };
  rssMB: { start: number; end: number };
  /** means of the decisions' own latencyMs (the agent's view of where a frame's time went) */
  stagesMs: { queue: number; preprocess: number; inference: number; total: number };
  verdicts: Record<string, number>;
  degraded: number;
  /** CPU ms per decision by thread name (main thread, inference workers, libuv pool, onnxruntime ...) */
  threadsMsPerDecision: Record<string, number>;
  /** the soak run: RSS in MB every RSS_EVERY_S seconds */
  rssTrendMB?: number[];
}

export interface PlainFigures {
  fps: number;
  decisions: number;
  /** median ms per frame of each step, as the script timed them */
  stepsMs: PlainSteps;
  /** frame read -> arrival at the consumer */
  latencyMs: Spread;
  cpuMsPerDecision: { process: number; main: number };
  rssMB: { start: number; end: number };
}

const MB = 2 ** 20;

function inTurns(turns: readonly Turn[], seen: readonly Seen[]): { all: Seen[]; triggeredInside: Seen[] } {
  const all: Seen[] = [];
  const triggeredInside: Seen[] = [];
  for (const t of turns) {
    for (const d of seen) {
      if (d.at < t.from || d.at > t.to) continue;
      all.push(d);
      // a frame taken before the turn may have waited out a SIGSTOP: its latency is not the agent's
      if (d.triggeredAt >= t.from) triggeredInside.push(d);
    }
  }
  return { all, triggeredInside };
}

function memory(turns: readonly Turn[]): { start: number; end: number } {
  return {
    start: round((turns[0]?.start.rssBytes ?? Number.NaN) / MB, 1),
    end: round((turns.at(-1)?.end.rssBytes ?? Number.NaN) / MB, 1),
  };
}

export function agentFigures(
  turns: readonly Turn[],
  seen: readonly Seen[],
  run: { cameras: number; offeredFps: number | null },
): AgentRunFigures {
  const { all, triggeredInside } = inTurns(turns, seen);
  const judged = all.filter((d) => !d.degraded);
  const rate = rateIn(
    turns,
    seen.filter((d) => !d.degraded).map((d) => d.at),
  );
  const cpu = cpuIn(turns);
  const n = Math.max(1, judged.length);
  const per = (v: number) => round(v / n);
  const verdicts: Record<string, number> = {};
  for (const d of all) verdicts[d.verdict] = (verdicts[d.verdict] ?? 0) + 1;
  const mean = (key: 'queue' | 'preprocess' | 'inference' | 'total') =>
    round(judged.reduce((s, d) => s + (d.latencyMs?.[key] ?? 0), 0) / n);
  const timed = triggeredInside.filter((d) => !d.degraded);
  return {
    cameras: run.cameras,
    trigger: run.offeredFps === null ? 'continuous' : 'interval',
    offeredFps: run.offeredFps,
    decisions: judged.length,
    fps: rate.fps,
    latencyMs: spread(timed.map((d) => d.at - d.triggeredAt)),
    decideMs: spread(timed.map((d) => d.decidedAt - d.triggeredAt)),
    loopLagMs: {
      p99: round(median(turns.map((t) => t.loopLag?.p99 ?? Number.NaN))),
      max: round(Math.max(...turns.map((t) => t.loopLag?.max ?? Number.NaN))),
    },
    cpuMsPerDecision: { process: per(cpu.processMs), main: per(cpu.mainMs) },
    rssMB: memory(turns),
    stagesMs: {
      queue: mean('queue'),
      preprocess: mean('preprocess'),
      inference: mean('inference'),
      total: mean('total'),
    },
    verdicts,
    degraded: all.length - judged.length,
    threadsMsPerDecision: Object.fromEntries(
      Object.entries(cpu.threads)
        .sort((a, b) => b[1] - a[1])
        .map(([name, ms]) => [name, per(ms)]),
    ),
    ...(turns[0]?.rssMB ? { rssTrendMB: turns[0].rssMB } : {}),
  };
}

export function plainFigures(turns: readonly Turn[], seen: readonly Seen[], steps: PlainSteps): PlainFigures {
  const { all, triggeredInside } = inTurns(turns, seen);
  const cpu = cpuIn(turns);
  const n = Math.max(1, all.length);
  return {
    fps: rateIn(
      turns,
      seen.map((d) => d.at),
    ).fps,
    decisions: all.length,
    stepsMs: steps,
    latencyMs: spread(triggeredInside.map((d) => d.at - d.triggeredAt)),
    cpuMsPerDecision: { process: round(cpu.processMs / n), main: round(cpu.mainMs / n) },
    rssMB: memory(turns),
  };
}
