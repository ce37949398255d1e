/**
 * `node --import tsx bench/infer.ts [--frames DIR] [--model FILE.onnx] [--base DIR] [--seconds N] [--rounds N]`:
 * the inference path on 1080p JPEGs, each figure measured in a fresh child process, implementations
 * alternated round by round so a noisy machine hits both alike:
 * - decode alone (`preprocess`, serial), and with `input.fastDecode`;
 * - session.run alone (one in-process session, serial, the tensor prepared once);
 * - `ModelRunner.infer` with 1 caller, 1 caller keeping two frames in flight (a pipelined camera) and 4
 *   callers: frames/s, main-thread CPU per frame (/proc/self/task/<pid>/stat), process CPU per frame and
 *   event-loop lag (monitorEventLoopDelay);
 * - batch sizes 1, 2, 4 (`batch.max`) with 4 callers, on a model with a free batch dimension.
 * Each figure is the median of the rounds (`--rounds`, default 2).
 * `--base DIR` is another checkout's root (e.g. `git archive <commit> agent | tar -x -C DIR`): its rows are
 * measured alongside. `--set main,fast,batch,threads` picks the row sets (default main: the before/after
 * rows). The child mode (`--child JSON`) is internal.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

interface Row {
  name: string;
  /** which checkout: 'new' (this one) or 'base' */
  impl: 'new' | 'base';
  kind: 'decode' | 'run' | 'infer';
  callers: number;
  inFlight: number;
  workers: number;
  intraOpThreads: number;
  manifestExtra: string;
  /** session.run rows: frames per run */
  batch: number;
}

interface Result {
  fps: number;
  mainCpuMsPerFrame: number;
  cpuMsPerFrame: number;
  lagP99: number;
  lagMax: number;
  frames: number;
}

const REPO = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};

function threadCpuMs(): number {
  // utime + stime of the main thread (tid = pid), in clock ticks of 10 ms
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** One model folder per manifest variant: the model linked, the manifest written with `extra` keys. */
function variant(model: string, extra: string): string {
  const base = readFileSync(join(resolve(model, '..'), 'manifest.yaml'), 'utf8');
  const key = createHash('sha256')
    .update(`${resolve(model)}|${extra}`)
    .digest('hex')
    .slice(0, 16);
  const dir = join(tmpdir(), 'eva-bench-infer', key);
  mkdirSync(dir, { recursive: true });
  try {
    symlinkSync(resolve(model), join(dir, 'model.onnx'));
  } catch {
    // already linked by an earlier child
  }
  // `extra` lines are YAML merged into `input:` (indented) or top-level keys (prefixed with '^')
  let text = base;
  for (const line of extra.split(';').filter(Boolean)) {
    if (line.startsWith('^')) text += `${line.slice(1)}\n`;
    else text = text.replace(/^input:\n/m, `input:\n  ${line}\n`);
  }
  writeFileSync(join(dir, 'manifest.yaml'), text);
  return join(dir, 'model.onnx');
}

async function child(row: Row, model: string, framesDir: string, seconds: number): Promise<Result> {
  const root = row.impl === 'base' ? opt('base', '') : REPO;
  const inference = await import(pathToFileURL(join(root, 'agent/inference/index.ts')).href);
  const files = readdirSync(framesDir)
    .filter((f) => f.endsWith('.jpg'))
    .sort();
  const frames = files.map((f) => ({
    kind: 'encoded' as const,
    data: readFileSync(join(framesDir, f)),
    capturedAt: 0,
    name: f,
  }));
  const path = variant(model, row.manifestExtra);
  const loaded = inference.loadManifest(path);
  const lag = monitorEventLoopDelay({ resolution: 2 });
  let count = 0;
  let work: () => Promise<void>;
  let stop: () => Promise<void> = async () => {};
  if (row.kind === 'decode') {
    work = async () => {
      await inference.preprocess(frames[count % frames.length], loaded.manifest.input);
      count++;
    };
  } else if (row.kind === 'run') {
    const ort = await import('onnxruntime-node');
    // as the session workers of each checkout create it (this one's threads do not spin)
    const session = await ort.InferenceSession.create(
      path,
      inference.sessionOptions
        ? inference.sessionOptions('cpu', row.intraOpThreads)
        : {
            executionProviders: ['cpu'],
            graphOptimizationLevel: 'all',
            ...(row.intraOpThreads > 0 ? { intraOpNumThreads: row.intraOpThreads } : {}),
          },
    );
    const pre = await inference.preprocess(frames[0], loaded.manifest.input);
    const one = pre.tensor.data as Float32Array;
    const data = new Float32Array(one.length * row.batch);
    for (let i = 0; i < row.batch; i++) data.set(one, i * one.length);
    const feed = new ort.Tensor('float32', data, [row.batch, ...pre.tensor.dims.slice(1)]);
    work = async () => {
      await session.run({ [loaded.manifest.input.name]: feed });
      count += row.batch;
    };
    stop = () => session.release();
  } else {
    const runner = new inference.ModelRunner(
      {
        id: 'bench',
        path,
        providers: ['cpu'],
        workers: row.workers,
        intraOpThreads: row.intraOpThreads,
      },
      (await import('pino')).pino({ level: 'silent' }),
    );
    await runner.start();
    if (runner.state !== 'ready') throw new Error(`model not ready: ${runner.snapshot().error}`);
    let next = 0;
    work = async () => {
      await runner.infer(frames[next++ % frames.length]);
      count++;
    };
    stop = () => runner.stop();
  }
  // warm-up: a second's worth, not measured
  const warmUntil = performance.now() + 1000;
  while (performance.now() < warmUntil) await work();
  count = 0;
  const lanes = row.kind === 'infer' ? row.callers * row.inFlight : 1;
  const t0 = performance.now();
  const main0 = threadCpuMs();
  const cpu0 = processCpuMs();
  lag.enable();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (performance.now() < until) await work();
    }),
  );
  lag.disable();
  const elapsed = performance.now() - t0;
  const result: Result = {
    fps: (count * 1000) / elapsed,
    mainCpuMsPerFrame: (threadCpuMs() - main0) / count,
    cpuMsPerFrame: (processCpuMs() - cpu0) / count,
    lagP99: lag.percentile(99) / 1e6 - 2,
    lagMax: lag.max / 1e6 - 2,
    frames: count,
  };
  await stop();
  return result;
}

function rows(): Row[] {
  const base = opt('base', '') !== '';
  const both = (row: Omit<Row, 'impl'>): Row[] =>
    (base ? (['base', 'new'] as const) : (['new'] as const)).map((impl) => ({ ...row, impl }));
  const only = (row: Omit<Row, 'impl'>): Row[] => [{ ...row, impl: 'new' }];
  const r = (name: string, kind: Row['kind'], more: Partial<Row> = {}): Omit<Row, 'impl'> => ({
    name,
    kind,
    callers: 1,
    inFlight: 1,
    workers: 1,
    intraOpThreads: 0,
    manifestExtra: '',
    batch: 1,
    ...more,
  });
  const sets: Record<string, Row[]> = {
    // before/after: the same rows on both checkouts
    main: [
      ...both(r('decode', 'decode')),
      ...both(r('session.run', 'run')),
      ...both(r('infer 1 caller', 'infer')),
      ...both(r('infer 1 camera 2 in flight', 'infer', { inFlight: 2 })),
      ...both(r('infer 4 callers', 'infer', { callers: 4 })),
    ],
    fast: [
      ...only(r('decode', 'decode')),
      ...only(r('decode fastDecode', 'decode', { manifestExtra: 'fastDecode: true' })),
      ...only(r('infer 4 callers', 'infer', { callers: 4 })),
      ...only(r('infer 4 callers fastDecode', 'infer', { callers: 4, manifestExtra: 'fastDecode: true' })),
    ],
    // one caller, one frame at a time: latency-bound, so it shows every hand-over between threads
    single: [
      ...both(r('infer 1 caller', 'infer')),
      ...only(r('infer 1 caller, 2 threads', 'infer', { intraOpThreads: 2 })),
    ],
    batch: [1, 2, 4].flatMap((n) => [
      ...only(r(`session.run batch ${n}`, 'run', { batch: n, intraOpThreads: 1 })),
      ...only(
        r(`infer 4 callers batch ${n}`, 'infer', {
          callers: 4,
          intraOpThreads: 1,
          manifestExtra: n > 1 ? `^batch: { max: ${n}, waitMs: 0 }` : '',
        }),
      ),
    ]),
    threads: [
      [1, 0],
      [1, 1],
      [1, 2],
      [2, 1],
    ].flatMap(([workers, threads]) =>
      [1, 4].flatMap((callers) =>
        only(
          r(`infer ${callers} caller(s) ${workers} worker(s) x ${threads || 'default'} thread(s)`, 'infer', {
            callers,
            inFlight: callers === 1 ? 2 : 1,
            workers,
            intraOpThreads: threads,
          }),
        ),
      ),
    ),
  };
  return opt('set', 'main')
    .split(',')
    .flatMap((name) => sets[name] ?? []);
}

async function main(): Promise<void> {
  const childArg = opt('child', '');
  const framesDir = opt('frames', '/tmp/infer-frames');
  const model = opt('model', '/tmp/infer-models/mnv3s/model.onnx');
  const seconds = Number(opt('seconds', '8'));
  if (childArg) {
    const out = await child(JSON.parse(childArg) as Row, model, framesDir, seconds);
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const rounds = Number(opt('rounds', '2'));
  const list = rows();
  const results = new Map<string, Result[]>();
  for (let round = 0; round < rounds; round++) {
    for (const row of list) {
      const key = `${row.name} [${row.impl}]`;
      const out = execFileSync(
        process.execPath,
        ['--import', 'tsx', join(REPO, 'bench/infer.ts'), ...args, '--child', JSON.stringify(row)],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const res = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Result;
      results.set(key, [...(results.get(key) ?? []), res]);
      console.error(`round ${round + 1} ${key}: ${res.fps.toFixed(1)} fps`);
    }
  }
  // the median of the rounds: a neighbour's burst on this shared machine hits one round, not the figure
  const mean = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  console.log(
    '| row | impl | frames/s | main-thread CPU ms/frame | process CPU ms/frame | loop lag p99 / max ms |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const [key, rs] of results) {
    const [name, impl] = key.split(' [');
    console.log(
      `| ${name} | ${impl?.slice(0, -1)} | ${mean(rs.map((x) => x.fps)).toFixed(1)} | ${mean(rs.map((x) => x.mainCpuMsPerFrame)).toFixed(2)} | ${mean(rs.map((x) => x.cpuMsPerFrame)).toFixed(1)} | ${mean(rs.map((x) => x.lagP99)).toFixed(1)} / ${Math.max(...rs.map((x) => x.lagMax)).toFixed(1)} |`,
    );
  }
}

await main();
