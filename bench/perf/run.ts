/**
 * `npm run bench`: the truthful benchmark (issue 10). For each model, in one run: the limit (decode alone,
 * `session.run` alone, both at once), the plain one-frame-at-a-time script, and the agent end to end (1 and
 * 4 folder cameras, continuous and at 50 % of that rate, decisions published to a local mosquitto). Writes
 * a Markdown table and a JSON file under bench/results/ (and latest.md / latest.json). docs/performance.md
 * says what each column means. The old micro-benchmarks are `npm run bench:micro`.
 *
 *   npm run bench                                   the four models, 32 generated 1080p frames + the samples
 *   npm run bench -- --smoke                        one short pass on the washer model, 2 frames (CI)
 *   npm run bench -- --models mobilenetv3s --soak 600     (then 10 minutes alone at full load: RSS growth)
 *   options: --models a,b  --frames N  --cycles N  --turn S  --settle S  --duration S  --warmup S
 *            --iterations N  --limit-seconds S  --cameras 1,4  --load 0.5  --soak S  --workers N  --threads N
 *            --broker URL  --out DIR  --no-samples  --keep
 * The machine is shared: the pipelined limit, the plain script and the agent take turns (agent/perf/turns.ts:
 * 8 cycles of 3 s each, the others SIGSTOPped meanwhile), and each ratio is the median of the cycles' own.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type CaseSpec, runSuite, toMarkdown, writeReport } from '../../agent/perf/index.js';
import { DEFAULT_FRAMES, ensureFrames, framesIn } from './frames.js';
import { resolveModels } from './models.js';

const REPO = join(import.meta.dirname, '../..');
const CACHE = join(REPO, 'bench/.cache');
const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    models: { type: 'string' },
    frames: { type: 'string' },
    duration: { type: 'string' },
    soak: { type: 'string' },
    cycles: { type: 'string' },
    turn: { type: 'string' },
    settle: { type: 'string' },
    warmup: { type: 'string' },
    iterations: { type: 'string' },
    'limit-seconds': { type: 'string' },
    cameras: { type: 'string' },
    load: { type: 'string' },
    workers: { type: 'string' },
    threads: { type: 'string' },
    broker: { type: 'string' },
    out: { type: 'string' },
    'no-samples': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});

function num(name: keyof typeof values, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number, got ${raw}`);
  return n;
}

const smoke = values.smoke === true;
const modelIds = (values.models ?? (smoke ? 'washer' : 'mobilenetv3s,resnet18,yolo-det,washer'))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const frameCount = num('frames', smoke ? 2 : DEFAULT_FRAMES.count);
const options = {
  cycles: num('cycles', smoke ? 1 : 8),
  turnSeconds: num('turn', smoke ? 1.5 : 3),
  settleSeconds: num('settle', smoke ? 0.5 : 1),
  seconds: num('duration', smoke ? 2 : 10),
  warmupSeconds: num('warmup', smoke ? 1 : 3),
  decodePasses: num('iterations', smoke ? 1 : 2),
  limitSeconds: num('limit-seconds', smoke ? 1 : 3),
  cameras: (values.cameras ?? '1,4').split(',').map(Number),
  halfLoad: num('load', 0.5),
  soakSeconds: num('soak', 0),
  workers: num('workers', 1),
  intraOpThreads: num('threads', 0),
  brokerUrl: values.broker,
  keepWorkDir: values.keep === true,
  progress: say,
};
const outDir = values.out ?? join(REPO, smoke ? 'bench/.cache/smoke-results' : 'bench/results');

say(
  `frames: ${frameCount} generated ${DEFAULT_FRAMES.width}x${DEFAULT_FRAMES.height} JPEGs (cached in ${CACHE})`,
);
const generated = await ensureFrames(CACHE, { ...DEFAULT_FRAMES, count: frameCount }, (done, total) => {
  if (done === total || done % 8 === 0) say(`frames ${done}/${total}`);
});
// the set's own folder holds every frame made so far: the cameras replay exactly the ones asked for
const generatedDir =
  framesIn(generated.dir).length === frameCount ? generated.dir : join(CACHE, `frames-subset-${frameCount}`);
if (generatedDir !== generated.dir) {
  const { mkdirSync, copyFileSync, readdirSync, rmSync } = await import('node:fs');
  mkdirSync(generatedDir, { recursive: true });
  for (const f of readdirSync(generatedDir)) rmSync(join(generatedDir, f));
  for (const f of generated.files) copyFileSync(f, join(generatedDir, f.split('/').at(-1) as string));
}
const label = `${frameCount} generated ${DEFAULT_FRAMES.width}x${DEFAULT_FRAMES.height} q${DEFAULT_FRAMES.quality}, ${Math.round(generated.meanBytes / 1024)} KB`;

const { models, skipped } = resolveModels(REPO, CACHE, modelIds, say);
const cases: CaseSpec[] = models.map((m) => ({
  id: m.id,
  modelPath: m.path,
  framesDir: generatedDir,
  files: framesIn(generatedDir),
  framesLabel: label,
}));
// the shipped samples: the washer model on the frames it was made for (640x480, tens of KB)
const samplesDir = join(REPO, 'samples/washer');
if (!smoke && !values['no-samples'] && models.some((m) => m.id === 'washer')) {
  const files = framesIn(samplesDir);
  cases.push({
    id: 'washer@samples',
    modelPath: join(REPO, 'models/washer/model.onnx'),
    framesDir: samplesDir,
    files,
    framesLabel: `${files.length} shipped samples 640x480`,
  });
}
for (const s of skipped) say(`!!! not measured: ${s}`);

const { report, failures } = await runSuite(cases, options, skipped);
const written = writeReport(outDir, report);
process.stdout.write(toMarkdown(report));
say(`written: ${written.markdown}, ${written.json} (and latest.md / latest.json beside them)`);
process.exitCode = failures.length > 0 ? 1 : 0;
