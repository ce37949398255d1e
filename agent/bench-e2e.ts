/**
 * `edge-agent bench --e2e --model M.onnx --frames DIR`: the user's own model on the user's own frames,
 * measured as the repository's `npm run bench` measures ours (docs/performance.md): the limit (decode alone,
 * `session.run` alone, both pipelined), the plain one-frame-at-a-time script, and this agent end to end
 * (folder cameras replaying DIR, decisions stored and published to a broker: the one given with --broker,
 * else a local `mosquitto` started on a free loopback port), the last three in turns (agent/perf/turns.ts).
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type CliContext, intOption, UsageError } from './cli/index.js';
import { type CaseSpec, runSuite, toMarkdown, writeReport } from './perf/index.js';

const IMAGE = /\.(jpe?g|png)$/i;
/** After its first frame, before the turns: the first runs allocate, the first decisions open the store. */
const WARMUP_S = 3;
/** After each SIGCONT, before a turn is measured (work stopped mid-way finishes). */
const SETTLE_S = 1;
/** Passes over the frames when timing decode alone; seconds of `session.run` alone and of the pipeline. */
const DECODE_PASSES = 3;
const LIMIT_S = 5;

export function framesOf(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new UsageError(`--frames ${dir} is not a readable folder`);
  }
  const files = names
    .filter((n) => IMAGE.test(n))
    .sort()
    .map((n) => join(dir, n))
    .filter((f) => statSync(f).isFile());
  if (files.length === 0) throw new UsageError(`--frames ${dir} holds no .jpg, .jpeg or .png file`);
  return files;
}

function seconds(opts: Record<string, unknown>, name: string, fallback: number): number {
  const value = opts[name];
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`--${name} must be a number of seconds > 0, got ${String(value)}`);
  return n;
}

/** The model's name in the report: its folder (models/washer/model.onnx -> washer), else the file's. */
function caseId(file: string): string {
  const name = basename(file, '.onnx');
  return name === 'model' ? basename(dirname(resolve(file))) : name;
}

export async function runE2eBench(
  files: string[],
  opts: Record<string, unknown>,
  ctx: CliContext,
): Promise<number> {
  if (typeof opts.frames !== 'string')
    throw new UsageError('--e2e needs --frames DIR (the frames to replay)');
  const framesDir = resolve(opts.frames);
  const frames = framesOf(framesDir);
  const cameras = String(opts.cameras ?? '1,4')
    .split(',')
    .map((c) => Number(c));
  if (cameras.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new UsageError(`--cameras must list whole numbers >= 1, got ${String(opts.cameras)}`);
  }
  const cases: CaseSpec[] = files.map((file) => ({
    id: caseId(file),
    modelPath: resolve(file),
    framesDir,
    files: frames,
    framesLabel: `${frames.length} frames from ${framesDir}`,
  }));
  const { report, failures } = await runSuite(cases, {
    cycles: intOption(opts, 'cycles', 5),
    turnSeconds: seconds(opts, 'turn', 3),
    settleSeconds: SETTLE_S,
    seconds: seconds(opts, 'seconds', 10),
    warmupSeconds: WARMUP_S,
    decodePasses: DECODE_PASSES,
    limitSeconds: LIMIT_S,
    cameras,
    halfLoad: 0.5,
    workers: intOption(opts, 'workers', 1),
    intraOpThreads: intOption(opts, 'threads', 0, 0),
    brokerUrl: typeof opts.broker === 'string' ? opts.broker : undefined,
    // progress on stderr: stdout is the report (and --json must stay parseable)
    progress: (line) => void ctx.stderr.write(`bench: ${line}\n`),
  });
  if (typeof opts.out === 'string') {
    const written = writeReport(opts.out, report);
    ctx.stderr.write(`bench: written ${written.markdown} and ${written.json}\n`);
  }
  ctx.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : toMarkdown(report));
  return failures.length === 0 && report.cases.length > 0 ? 0 : 1;
}
