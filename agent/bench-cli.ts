/**
 * `edge-agent bench --model A.onnx --model B.onnx`: compares variants of one model (fp32 / fp16 / int8) on this
 * hardware, run the way the agent runs them (a SessionPool of worker threads), so the plant deploys the faster
 * one. Exit 0 when every model was measured, 1 on bad arguments or a model that would not load or run.
 * With `--e2e --frames DIR`: the limit, the plain script and the agent end to end on those frames
 * (bench-e2e.ts, docs/performance.md).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import pino from 'pino';
import { runE2eBench } from './bench-e2e.js';
import {
  type CliCommand,
  type CliContext,
  createProgress,
  intOption,
  type Progress,
  processContext,
  runCli,
  UsageError,
} from './cli/index.js';
import { describeError } from './errors.js';
import {
  loadManifest,
  type OnnxInfo,
  type Precision,
  preprocess,
  readOnnxInfo,
  SessionPool,
  type WireTensor,
} from './inference/index.js';
import { READ_LIMITS, readFileLimited } from './read-limited.js';

export interface ModelBench {
  file: string;
  precision: Precision;
  quantNodes: number;
  provider: string;
  input: { name: string; type: string; dims: number[] };
  preprocessMs: number | null;
  inferenceMs: { p50: number; p95: number; mean: number };
  framesPerSecond: number;
  /** The first model's p50 divided by this one's (above 1: faster than the first). */
  speedupVsFirst: number;
  /** Largest difference of any output value from the first model's on the same input (same output names). */
  maxAbsDiffVsFirst: number | null;
}

export interface BenchReport {
  runs: number;
  workers: number;
  threads: number;
  providers: string[];
  image: string | null;
  models: ModelBench[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;

/** The model's input: from the image through the manifest when asked, else a fixed mid-grey test pattern. */
async function makeInput(
  file: string,
  info: OnnxInfo,
  image: string | undefined,
): Promise<{ name: string; tensor: WireTensor; preprocessMs: number | null }> {
  if (image) {
    const { manifest } = loadManifest(file);
    const frame = { kind: 'encoded' as const, data: readFileSync(image), capturedAt: Date.now() };
    await preprocess(frame, manifest.input); // first call loads codecs; not what a running line pays
    const started = performance.now();
    const { tensor } = await preprocess(frame, manifest.input);
    return { name: manifest.input.name, tensor, preprocessMs: performance.now() - started };
  }
  const meta = info.inputs[0];
  if (!meta) throw new Error('the model has no tensor input');
  const dims = meta.shape.map((d, i) => {
    if (typeof d === 'number') return d;
    if (i === 0) return 1; // a dynamic batch: one frame, as the agent runs
    throw new Error(`input ${meta.name} has a dynamic dimension ${i} (${d}); give --image and a manifest`);
  });
  const size = dims.reduce((a, b) => a * b, 1);
  const type = meta.type;
  let data: WireTensor['data'];
  if (type === 'float32') data = new Float32Array(size).fill(0.5);
  else if (type === 'uint8') data = new Uint8Array(size).fill(128);
  else if (type === 'float16')
    data = new Uint16Array(size).fill(0x3800); // 0.5 in IEEE half
  else throw new Error(`input type ${type} is not supported by bench`);
  return { name: meta.name, tensor: { data, dims, type }, preprocessMs: null };
}

function maxAbsDiff(a: Record<string, WireTensor>, b: Record<string, WireTensor>): number | null {
  let max = 0;
  for (const [name, t] of Object.entries(a)) {
    const u = b[name];
    if (!u || u.data.length !== t.data.length || typeof t.data[0] === 'bigint') return null;
    for (let i = 0; i < t.data.length; i++) {
      max = Math.max(max, Math.abs(Number(t.data[i]) - Number(u.data[i])));
    }
  }
  return max;
}

async function benchOne(
  file: string,
  opts: BenchOptions,
): Promise<{
  bench: Omit<ModelBench, 'speedupVsFirst' | 'maxAbsDiffVsFirst'>;
  outputs: Record<string, WireTensor>;
}> {
  const info = readOnnxInfo(readFileLimited(file, READ_LIMITS.model, 'model file'), file);
  const input = await makeInput(file, info, opts.image);
  const pool = new SessionPool(opts.workers, pino({ level: 'silent' }));
  try {
    const loaded = await pool.load({
      modelPath: file,
      providers: opts.providers,
      intraOpThreads: opts.threads,
    });
    // each run transfers its buffer to a worker, so every run gets its own copy
    const feed = () => ({ [input.name]: { ...input.tensor, data: input.tensor.data.slice() } });
    const first = await pool.run(feed());
    for (let i = 1; i < opts.warmup; i++) await pool.run(feed());
    const times: number[] = [];
    const progress = opts.progress?.(file, opts.runs);
    let next = 0;
    const started = performance.now();
    // keep every worker busy, as a camera feeding frames faster than one worker can take them would
    const lane = async () => {
      while (next < opts.runs) {
        next++;
        times.push((await pool.run(feed())).inferenceMs);
        progress?.update(times.length);
      }
    };
    await Promise.all(Array.from({ length: opts.workers }, lane));
    progress?.end();
    const wallS = (performance.now() - started) / 1000;
    times.sort((a, b) => a - b);
    const bench = {
      file,
      precision: info.precision,
      quantNodes: info.quantNodes,
      provider: loaded.provider,
      input: { name: input.name, type: input.tensor.type, dims: [...input.tensor.dims] },
      preprocessMs: input.preprocessMs === null ? null : round(input.preprocessMs),
      inferenceMs: {
        p50: round(percentile(times, 50)),
        p95: round(percentile(times, 95)),
        mean: round(times.reduce((a, b) => a + b, 0) / times.length),
      },
      framesPerSecond: round(opts.runs / wallS, 1),
    };
    return { bench, outputs: first.outputs };
  } finally {
    await pool.close();
  }
}

export type BenchOptions = {
  runs: number;
  warmup: number;
  workers: number;
  threads: number;
  providers: string[];
  image?: string;
  /** Progress of each model's timed runs (a bar on a terminal, lines otherwise). */
  progress?: (file: string, total: number) => Progress;
};

/** Measures each model in turn (never two at once: they would share the cores and skew each other). */
export async function benchModels(
  files: string[],
  opts: BenchOptions,
): Promise<{ report: BenchReport; failures: { file: string; error: string }[] }> {
  const failures: { file: string; error: string }[] = [];
  const report: BenchReport = {
    runs: opts.runs,
    workers: opts.workers,
    threads: opts.threads,
    providers: opts.providers,
    image: opts.image ?? null,
    models: [],
  };
  let reference: { p50: number; outputs: Record<string, WireTensor> } | undefined;
  for (const file of files) {
    try {
      const { bench, outputs } = await benchOne(file, opts);
      reference ??= { p50: bench.inferenceMs.p50, outputs };
      report.models.push({
        ...bench,
        speedupVsFirst: round(reference.p50 / bench.inferenceMs.p50),
        maxAbsDiffVsFirst: (() => {
          const d = maxAbsDiff(reference.outputs, outputs);
          return d === null ? null : round(d, 5);
        })(),
      });
    } catch (err) {
      failures.push({ file, error: describeError(err) });
    }
  }
  return { report, failures };
}

/** `edge-agent bench`: one command file, registered in agent/commands.ts. */
export const benchCommand: CliCommand = {
  name: 'bench',
  summary:
    "compare variants of one model (fp32 / fp16 / int8) on this machine's hardware; --e2e: the model on your frames, limit vs plain script vs the agent end to end",
  define: (c) =>
    c
      .option('--model <file>', 'a model variant; repeat for each (the first is the reference)', collect, [])
      .option('--runs <n>', 'timed inferences per model (default 200)')
      .option('--warmup <n>', 'untimed inferences first (default 10)')
      .option('--workers <n>', "worker threads, each with its own session, as a model's workers (default 1)")
      .option('--threads <n>', 'onnxruntime intra-op threads per worker, 0 = its default (default 0)')
      .option(
        '--providers <list>',
        'comma-separated, first that loads is used: tensorrt,cuda,cpu (default cpu)',
      )
      .option('--image <file>', "feed this image through the manifest's preprocessing (and time it)")
      .option('--json', 'print the report as JSON')
      .option(
        '--e2e',
        'the limit, the plain script and the agent end to end on --frames (docs/performance.md)',
      )
      .option('--frames <dir>', 'with --e2e: the JPEG/PNG frames the cameras replay')
      .option(
        '--turn <s>',
        'with --e2e: seconds of each turn of the limit, plain script and agent (default 3)',
      )
      .option('--cycles <n>', 'with --e2e: cycles of turns; each ratio is the median of theirs (default 5)')
      .option('--seconds <s>', 'with --e2e: measured seconds of each run at 50 % load (default 10)')
      .option('--cameras <list>', 'with --e2e: camera counts of the agent runs (default 1,4)')
      .option('--broker <url>', 'with --e2e: publish to this broker (default: start the local mosquitto)')
      .option('--out <dir>', 'with --e2e: also write the Markdown and JSON report into this folder'),
  async run({ opts, ctx }) {
    const files = opts.model as string[];
    if (files.length === 0) throw new UsageError('at least one --model is needed');
    if (opts.e2e) return runE2eBench(files, opts, ctx);
    const options: BenchOptions = {
      runs: intOption(opts, 'runs', 200),
      warmup: intOption(opts, 'warmup', 10),
      workers: intOption(opts, 'workers', 1),
      threads: intOption(opts, 'threads', 0, 0),
      providers: String(opts.providers ?? 'cpu')
        .split(',')
        .filter(Boolean),
      ...(opts.image ? { image: String(opts.image) } : {}),
      // progress on stderr: stdout is the report (and --json must stay parseable)
      progress: (file, total) => createProgress(basename(file), total, ctx.stderr),
    };
    const { report, failures } = await benchModels(files, options);
    for (const f of failures) ctx.stderr.write(`bench ${f.file}: ${f.error}\n`);
    ctx.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    return failures.length === 0 ? 0 : 1;
  },
};

const collect = (value: string, previous: string[]) => [...previous, value];

/** The bench command alone, as the CLI runs it (tests call it in-process). */
export function runBench(argv: string[], ctx: CliContext = processContext()): Promise<number> {
  return runCli(['bench', ...argv], [benchCommand], ctx);
}

function formatReport(r: BenchReport): string {
  const head = `bench: ${r.runs} runs, ${r.workers} worker(s), intra-op threads ${r.threads || 'default'}, providers ${r.providers.join(',')}${r.image ? `, image ${r.image}` : ''}`;
  const rows = r.models.map((m) =>
    [
      m.file,
      m.precision,
      m.provider,
      `p50 ${m.inferenceMs.p50} ms`,
      `p95 ${m.inferenceMs.p95} ms`,
      `${m.framesPerSecond} frames/s`,
      `x${m.speedupVsFirst} vs first`,
      m.preprocessMs === null ? '' : `preprocess ${m.preprocessMs} ms`,
      m.maxAbsDiffVsFirst === null ? '' : `max |diff| ${m.maxAbsDiffVsFirst}`,
    ]
      .filter(Boolean)
      .join('  '),
  );
  return [head, ...rows].join('\n');
}
