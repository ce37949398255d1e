import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { AgentRunFigures } from './figures.js';
import { ratio } from './stats.js';
import type { CaseFigures, SuiteOptions } from './suite.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGB: number;
  freeMemoryGB: number;
  kernel: string;
  node: string;
  loadavg: number[];
}

export interface BenchReport {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  machine: Machine;
  broker: string;
  options: Omit<SuiteOptions, 'progress' | 'brokerUrl' | 'workDir'>;
  cases: CaseFigures[];
  /** models or frame sets asked for but not measured, with why */
  skipped: string[];
}

export function machine(): Machine {
  const list = cpus();
  return {
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    freeMemoryGB: Math.round(freemem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    loadavg: loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

type Cell = number | number[];

/**
 * The summary table, one row per model: each column's header and its number(s), read from the figures.
 * Every value is a measured number (NaN when a run was not made); the smoke test checks each is present.
 */
export const SUMMARY_COLUMNS: readonly { key: string; header: string; value: (c: CaseFigures) => Cell }[] = [
  {
    key: 'decodeMs',
    header: 'limit decode ms p50/p99',
    value: (c) => [c.limit.decodeMs.p50, c.limit.decodeMs.p99],
  },
  {
    key: 'inferMs',
    header: 'limit infer ms p50/p99',
    value: (c) => [c.limit.inferMs.p50, c.limit.inferMs.p99],
  },
  {
    key: 'limitFps',
    header: 'limit fps: slower stage alone / pipelined',
    value: (c) => [c.limit.stageFps, c.limit.pipelined.fps],
  },
  { key: 'plainFps', header: 'plain fps', value: (c) => c.plain.fps },
  { key: 'agentFps1', header: 'agent fps 1 cam', value: (c) => run(c, '1cam').fps },
  { key: 'agentFps4', header: 'agent fps 4 cams', value: (c) => run(c, '4cam').fps },
  {
    key: 'vsPlain',
    header: 'agent/plain 1 / 4 cams',
    value: (c) => [c.ratios['1cam']?.vsPlain ?? Number.NaN, c.ratios['4cam']?.vsPlain ?? Number.NaN],
  },
  {
    key: 'vsLimit',
    header: 'agent/limit 1 / 4 cams',
    value: (c) => [c.ratios['1cam']?.vsLimit ?? Number.NaN, c.ratios['4cam']?.vsLimit ?? Number.NaN],
  },
  {
    // CPU per decision depends far less on what else runs on the machine than frames/s do
    key: 'cpuVsPlain',
    header: 'CPU/decision agent÷plain 1 / 4 cams',
    value: (c) => [
      ratio(run(c, '1cam').cpuMsPerDecision.process, c.plain.cpuMsPerDecision.process),
      ratio(run(c, '4cam').cpuMsPerDecision.process, c.plain.cpuMsPerDecision.process),
    ],
  },
  {
    key: 'latency1',
    header: 'trigger->published ms p50/p99 at 50%, 1 cam',
    value: (c) => [run(c, '1cam@50%').latencyMs.p50, run(c, '1cam@50%').latencyMs.p99],
  },
  {
    key: 'latency4',
    header: 'same, 4 cams',
    value: (c) => [run(c, '4cam@50%').latencyMs.p50, run(c, '4cam@50%').latencyMs.p99],
  },
  { key: 'loopLag', header: 'loop lag p99 ms, 4 cams', value: (c) => run(c, '4cam').loopLagMs.p99 },
  {
    key: 'cpu',
    header: 'CPU ms/decision process / main, 1 cam',
    value: (c) => [run(c, '1cam').cpuMsPerDecision.process, run(c, '1cam').cpuMsPerDecision.main],
  },
  {
    key: 'rss',
    header: 'RSS MB start / end, 4 cams',
    value: (c) => [run(c, '4cam').rssMB.start, run(c, '4cam').rssMB.end],
  },
];

const MISSING: AgentRunFigures = {
  cameras: 0,
  trigger: 'continuous',
  offeredFps: null,
  decisions: 0,
  fps: Number.NaN,
  latencyMs: { p50: Number.NaN, p99: Number.NaN, mean: Number.NaN, n: 0 },
  decideMs: { p50: Number.NaN, p99: Number.NaN, mean: Number.NaN, n: 0 },
  loopLagMs: { p99: Number.NaN, max: Number.NaN },
  cpuMsPerDecision: { process: Number.NaN, main: Number.NaN },
  rssMB: { start: Number.NaN, end: Number.NaN },
  stagesMs: { queue: Number.NaN, preprocess: Number.NaN, inference: Number.NaN, total: Number.NaN },
  verdicts: {},
  degraded: 0,
  threadsMsPerDecision: {},
};

function run(c: CaseFigures, key: string): AgentRunFigures {
  return c.agent[key] ?? MISSING;
}

function growth(rss: { start: number; end: number }): string {
  const pct = ((rss.end - rss.start) / rss.start) * 100;
  return Number.isFinite(pct) ? `${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %` : '-';
}

const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

/**
 * RSS over a long run goes up and down by tens of MB (collections, the allocator): two single samples can
 * show +30 % or -10 % of nothing. Growth is the median of the last third of the samples over the first's.
 */
export function trendGrowth(trend: readonly number[]): { first: number; last: number; text: string } {
  const third = Math.max(1, Math.floor(trend.length / 3));
  const first = middle(trend.slice(0, third)) ?? Number.NaN;
  const last = middle(trend.slice(-third)) ?? Number.NaN;
  return { first, last, text: growth({ start: first, end: last }) };
}

const show = (v: number) => (Number.isFinite(v) ? String(v) : '-');
const cell = (v: Cell) => (Array.isArray(v) ? v.map(show).join(' / ') : show(v));
const tableRow = (cells: string[]) => `| ${cells.join(' | ')} |`;

function table(headers: string[], rows: string[][]): string[] {
  return [tableRow(headers), tableRow(headers.map(() => '---')), ...rows.map(tableRow)];
}

export function toMarkdown(r: BenchReport): string {
  const m = r.machine;
  const o = r.options;
  const lines = [
    `# edge-vision-agent benchmark, ${r.startedAt}`,
    '',
    `${m.cores} x ${m.cpu}, ${m.memoryGB} GiB, Linux ${m.kernel}, Node ${m.node}; load average at start ${m.loadavg.join(' ')}.`,
    `Broker: ${r.broker}. The pipelined limit, the plain script and the agent (continuous) measured in turns: ` +
      `${o.cycles} cycles of ${o.turnSeconds} s each (after ${o.settleSeconds} s to settle); the partial-load runs alone, ${o.seconds} s. ` +
      `Agent model config: workers ${o.workers}, intraOpThreads ${o.intraOpThreads || "0 (onnxruntime's default)"}. ` +
      `Partial load: ${Math.round(o.halfLoad * 100)} % of the continuous rate, interval trigger.`,
    '',
    ...table(
      ['model (frames)', ...SUMMARY_COLUMNS.map((c) => c.header)],
      r.cases.map((c) => [
        `${c.id} (${c.frames.label})`,
        ...SUMMARY_COLUMNS.map((col) => cell(col.value(c))),
      ]),
    ),
    '',
    '## Agent runs',
    '',
    ...table(
      [
        'model',
        'run',
        'fps',
        'offered fps',
        'trigger->published p50/p99 ms',
        'trigger->decided p50/p99 ms',
        'loop lag p99/max ms',
        'CPU ms/decision process/main',
        'RSS MB start/end (growth)',
        'preprocess/inference/queue ms',
        'verdicts',
      ],
      r.cases.flatMap((c) =>
        Object.entries(c.agent).map(([key, a]) => [
          c.id,
          key,
          show(a.fps),
          a.offeredFps === null ? '-' : show(a.offeredFps),
          cell([a.latencyMs.p50, a.latencyMs.p99]),
          cell([a.decideMs.p50, a.decideMs.p99]),
          cell([a.loopLagMs.p99, a.loopLagMs.max]),
          cell([a.cpuMsPerDecision.process, a.cpuMsPerDecision.main]),
          `${cell([a.rssMB.start, a.rssMB.end])} (${growth(a.rssMB)})`,
          cell([a.stagesMs.preprocess, a.stagesMs.inference, a.stagesMs.queue]),
          Object.entries(a.verdicts)
            .map(([v, n]) => `${v} ${n}`)
            .join(', ') + (a.degraded ? ` (${a.degraded} degraded)` : ''),
        ]),
      ),
    ),
    '',
    '## Plain script and limit',
    '',
    ...table(
      [
        'model',
        'plain fps',
        'plain ms/frame (p50) read/decode/infer/store/publish',
        'plain read->consumer p50/p99 ms',
        'plain CPU ms/decision process/main',
        'plain RSS MB',
        'limit fps serial / slower stage / pipelined',
        'model input',
        'frames mean KB',
      ],
      r.cases.map((c) => {
        const s = c.plain.stepsMs;
        return [
          c.id,
          show(c.plain.fps),
          cell([s.read, s.decode, s.infer, s.store, s.publish]),
          cell([c.plain.latencyMs.p50, c.plain.latencyMs.p99]),
          cell([c.plain.cpuMsPerDecision.process, c.plain.cpuMsPerDecision.main]),
          cell([c.plain.rssMB.start, c.plain.rssMB.end]),
          cell([c.limit.serialFps, c.limit.stageFps, c.limit.pipelined.fps]),
          `${c.model.input} (${c.model.sizeMB} MB)`,
          show(c.frames.meanKB),
        ];
      }),
    ),
  ];
  lines.push(
    '',
    '## Cycles',
    '',
    "Frames/s of each turn, cycle by cycle (a ratio above is the median of the cycles' own):",
    '',
    ...table(
      ['model', 'contender', ...Array.from({ length: o.cycles }, (_, i) => `cycle ${i + 1}`)],
      r.cases.flatMap((c) => Object.entries(c.cycles).map(([name, fps]) => [c.id, name, ...fps.map(show)])),
    ),
  );
  for (const c of r.cases) {
    for (const [key, a] of Object.entries(c.agent)) {
      if (!a.rssTrendMB) continue;
      lines.push(
        '',
        `## Memory over the ${key} run (${c.id})`,
        '',
        `RSS MB every 30 s: ${a.rssTrendMB.join(', ')}.`,
        `Median of the first third ${trendGrowth(a.rssTrendMB).first} MB, of the last third ` +
          `${trendGrowth(a.rssTrendMB).last} MB: ${trendGrowth(a.rssTrendMB).text}.`,
      );
    }
  }
  if (r.skipped.length > 0) lines.push('', '## Not measured', '', ...r.skipped.map((s) => `- ${s}`));
  return `${lines.join('\n')}\n`;
}

/** Writes `<stamp>.md` and `<stamp>.json` into `dir`, and copies them to `latest.md` / `latest.json`. */
export function writeReport(dir: string, r: BenchReport): { markdown: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = r.startedAt.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const markdown = join(dir, `${stamp}.md`);
  const json = join(dir, `${stamp}.json`);
  writeFileSync(markdown, toMarkdown(r));
  writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`);
  copyFileSync(markdown, join(dir, 'latest.md'));
  copyFileSync(json, join(dir, 'latest.json'));
  return { markdown, json };
}
