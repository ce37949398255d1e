import { cpuBetween, type ProcSample, sampleProcess } from './proc-stat.js';
import { round } from './stats.js';

/**
 * Measuring in turns. The machine is shared and its load moves from one minute to the next, so the limit,
 * the plain script and the agent are not measured one after the other: they are all started, then take turns,
 * each running only during its own few seconds (SIGCONT) while the others are stopped (SIGSTOP, which
 * stops every thread of a process). Cycle after cycle, in a rotating order, each gets the same machine at
 * nearly the same moment, and a ratio of two rates is taken within one cycle.
 */
export interface Contender {
  name: string;
  pid: number;
  /** Opens and closes a window of its own (the agent's event-loop gauge): called at a turn's start and end. */
  window?: () => Promise<{ p99: number; max: number }>;
}

export interface Turn {
  cycle: number;
  /** Date.now() at the turn's measured start and end (after the settling time) */
  from: number;
  to: number;
  start: ProcSample;
  end: ProcSample;
  loopLag?: { p99: number; max: number };
  /** RSS in MB at each `everySeconds` of a long turn (oneTurn) */
  rssMB?: number[];
}

export interface TurnOptions {
  cycles: number;
  /** measured seconds of each turn */
  turnSeconds: number;
  /** seconds after SIGCONT before a turn is measured: work stopped mid-way finishes, timers catch up */
  settleSeconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone: its turn shows it (no events), and the caller's own checks say why
  }
}

/**
 * One measured window of a process that runs alone and is not stopped (the partial-load and soak runs);
 * with `everySeconds`, its RSS is also noted that often (a leak grows steadily, a warm-up levels off).
 */
export async function oneTurn(c: Contender, seconds: number, everySeconds = 0): Promise<Turn> {
  await c.window?.();
  const from = Date.now();
  const start = sampleProcess(c.pid);
  const rssMB: number[] = [];
  const timer =
    everySeconds > 0
      ? setInterval(() => rssMB.push(round(sampleProcess(c.pid).rssBytes / 2 ** 20, 1)), everySeconds * 1000)
      : undefined;
  await sleep(seconds * 1000);
  clearInterval(timer);
  const end = sampleProcess(c.pid);
  const to = Date.now();
  const loopLag = await c.window?.();
  return { cycle: 1, from, to, start, end, ...(loopLag ? { loopLag } : {}), ...(timer ? { rssMB } : {}) };
}

export async function takeTurns(
  contenders: readonly Contender[],
  opts: TurnOptions,
  say: (line: string) => void = () => {},
): Promise<Record<string, Turn[]>> {
  for (const c of contenders) signal(c.pid, 'SIGSTOP');
  const turns: Record<string, Turn[]> = Object.fromEntries(contenders.map((c) => [c.name, []]));
  try {
    for (let cycle = 1; cycle <= opts.cycles; cycle++) {
      const order = contenders.map((_, i) => contenders[(i + cycle - 1) % contenders.length] as Contender);
      for (const c of order) {
        signal(c.pid, 'SIGCONT');
        await sleep(opts.settleSeconds * 1000);
        const turn = await oneTurn(c, opts.turnSeconds);
        signal(c.pid, 'SIGSTOP');
        turns[c.name]?.push({ ...turn, cycle });
      }
      say(`cycle ${cycle}/${opts.cycles} done (${order.map((c) => c.name).join(', ')})`);
    }
  } finally {
    for (const c of contenders) signal(c.pid, 'SIGCONT');
  }
  return turns;
}

/** How many of the arrival times (Date.now(), ascending or not) fall inside the turn. */
export function countIn(turn: Turn, times: readonly number[]): number {
  let n = 0;
  for (const t of times) if (t >= turn.from && t <= turn.to) n++;
  return n;
}

/** Events per second over all turns, and in each cycle's turn. */
export function rateIn(
  turns: readonly Turn[],
  times: readonly number[],
): { fps: number; perCycle: number[] } {
  let events = 0;
  let ms = 0;
  const perCycle: number[] = [];
  for (const t of turns) {
    const n = countIn(t, times);
    events += n;
    ms += t.to - t.from;
    perCycle.push(round((n * 1000) / (t.to - t.from), 1));
  }
  return { fps: round((events * 1000) / Math.max(1, ms), 1), perCycle };
}

/** CPU over all turns together (a stopped process spends none between them). */
export function cpuIn(turns: readonly Turn[]): {
  processMs: number;
  mainMs: number;
  threads: Record<string, number>;
} {
  const total = { processMs: 0, mainMs: 0, threads: {} as Record<string, number> };
  for (const t of turns) {
    const cpu = cpuBetween(t.start, t.end);
    total.processMs += cpu.processMs;
    total.mainMs += cpu.mainMs;
    for (const [name, ms] of Object.entries(cpu.threads))
      total.threads[name] = (total.threads[name] ?? 0) + ms;
  }
  return total;
}

/** The median of the finite values (NaN when there are none). */
export function median(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2
    ? (finite[mid] as number)
    : round(((finite[mid - 1] as number) + (finite[mid] as number)) / 2);
}
