/**
 * `edge-agent baseline build -c FILE --camera ID --from DIR` (CONTRACT section 1): runs the camera's model
 * over commissioning images and stores a drift baseline for it in the agent's database. The command line
 * itself (options, the config file) is agent/dataset-commands.ts's; this file only builds.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { type AgentConfig, defaultDriftConfig } from '../config/index.js';
import { judge } from '../decision/index.js';
import { agentError, describeError } from '../errors.js';
import { ModelDeployment, versionsDirOf } from '../models/index.js';
import { systemClock } from '../service.js';
import { DecisionStore } from '../store/index.js';
import { type Baseline, buildBaseline, MAX_BASELINE_FRAMES, MIN_BASELINE_FRAMES } from './baseline.js';
import { STATS } from './catalogue.js';
import { DriftStore } from './drift-store.js';
import { type FrameFeatures, featuresOf } from './features.js';

/** Image files a commissioning folder may hold (others, like labels.csv, are passed over). */
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff', '.gif']);
/** A file larger than this is no camera frame: skipped, with the reason, not read. */
const MAX_IMAGE_BYTES = 64 * 1024 * 1024;
/** Skipped files listed in the summary at most (the count is always given). */
const SKIPPED_LISTED = 10;

interface Skipped {
  file: string;
  reason: string;
}

/**
 * `edge-agent baseline build`: the baseline of `cameraId` from the images in `dir`, stored in the agent's
 * database; stdout carries the result (text or JSON), logs go to `log`. Returns the exit status (0 built, 1
 * not); a config problem never reaches here (the command loads the config, exit 78).
 */
export async function runBaselineBuild(
  config: AgentConfig,
  opts: { camera: string; from: string; json: boolean },
  log: Logger,
): Promise<number> {
  try {
    const baseline = await build(
      config,
      opts.camera,
      opts.from,
      log.child({ module: 'baseline' }),
      opts.json,
    );
    return baseline ? 0 : 1;
  } catch (err) {
    process.stderr.write(`baseline not built: ${describeError(err)}\n`);
    return 1;
  }
}

async function build(
  config: AgentConfig,
  cameraId: string,
  dir: string,
  log: Logger,
  json: boolean,
): Promise<Baseline | undefined> {
  const camera = config.cameras.find((c) => c.id === cameraId);
  if (!camera)
    throw agentError('CAMERA_UNKNOWN', { camera: cameraId, known: config.cameras.map((c) => c.id) });
  const drift = config.drift ?? defaultDriftConfig();
  if (!config.drift)
    log.warn('agent.yaml has no drift section: the baseline is stored, and used once drift is configured');
  const files = imagesIn(dir);
  const modelConfig = config.models.find((m) => m.id === camera.model);
  if (!modelConfig)
    throw agentError('MODEL_UNKNOWN', { model: camera.model, known: config.models.map((m) => m.id) });
  const deployment = new ModelDeployment(modelConfig, {
    log: log.child({ model: modelConfig.id }),
    clock: systemClock,
    versionsDir: versionsDirOf(config.store.path, modelConfig),
  });
  await deployment.start();
  const frames: FrameFeatures[] = [];
  const skipped: Skipped[] = [];
  let model: Baseline['model'] | undefined;
  try {
    if (deployment.state !== 'ready') {
      throw agentError(
        'DRIFT_BASELINE',
        `model ${modelConfig.id} is not usable: ${deployment.snapshot().error ?? deployment.state}`,
      );
    }
    const progress = progressBar(files.length);
    for (const [i, file] of files.entries()) {
      progress(i, file);
      try {
        const size = statSync(join(dir, file)).size;
        if (size > MAX_IMAGE_BYTES) throw new Error(`larger than ${MAX_IMAGE_BYTES / 1024 / 1024} MiB`);
        const data = readFileSync(join(dir, file));
        const t0 = performance.now();
        const inference = await deployment.infer({
          kind: 'encoded',
          data,
          capturedAt: Date.now(),
          name: file,
        });
        const total = performance.now() - t0;
        const { outcome, result } = judge(
          inference.result,
          camera.rules,
          inference.labels ?? deployment.labels,
        );
        const features = featuresOf(
          { result, verdict: outcome.verdict, degraded: false, latencyMs: { ...inference.timings, total } },
          inference.imageStats,
        );
        if (!features) throw new Error('no model output');
        frames.push(features);
        model ??= {
          id: inference.model.id,
          version: inference.model.version,
          sha256: inference.model.sha256,
        };
      } catch (err) {
        skipped.push({ file, reason: describeError(err).slice(0, 300) });
      }
    }
    progress(files.length, '');
  } finally {
    await deployment.stop();
  }
  if (!model || frames.length < MIN_BASELINE_FRAMES) {
    throw agentError(
      'DRIFT_BASELINE',
      `${frames.length} usable image(s) in ${dir}, at least ${MIN_BASELINE_FRAMES} are needed${skipped.length ? ` (${skipped.length} skipped: ${skipped[0]?.file}: ${skipped[0]?.reason})` : ''}`,
    );
  }
  const baseline = await buildBaseline(frames, {
    cameraId,
    model,
    builtAt: Date.now(),
    source: 'folder',
    window: drift.window,
  });
  const store = DecisionStore.open({ path: config.store.path, agentId: config.agent.id, log });
  try {
    new DriftStore(store).saveBaseline(baseline);
  } finally {
    store.close();
  }
  log.info(
    { baseline: baseline.id, frames: baseline.frames, skipped: skipped.length },
    'drift baseline stored',
  );
  process.stdout.write(
    json
      ? `${JSON.stringify(summary(baseline, skipped), null, 2)}\n`
      : describe(baseline, skipped, config.store.path),
  );
  return baseline;
}

/** The images of `dir` in name order (at most MAX_BASELINE_FRAMES); an unreadable or empty folder is an error. */
function imagesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw agentError('DRIFT_BASELINE', `cannot read ${dir}: ${describeError(err)}`, { cause: err });
  }
  const images = names.filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase())).sort();
  if (images.length === 0) {
    throw agentError('DRIFT_BASELINE', `no images in ${dir} (${[...IMAGE_EXTENSIONS].join(', ')})`);
  }
  return images.slice(0, MAX_BASELINE_FRAMES);
}

/** A bar on a terminal (stderr); a line per tenth otherwise, so a log file is not flooded. */
function progressBar(total: number): (done: number, file: string) => void {
  const tty = process.stderr.isTTY === true;
  let lastTenth = -1;
  return (done, file) => {
    if (tty) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${file.padEnd(24).slice(0, 24)}`,
      );
      if (done === total) process.stderr.write('\n');
      return;
    }
    const tenth = Math.floor((done / total) * 10);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      process.stderr.write(`baseline: ${done}/${total} images\n`);
    }
  };
}

function summary(b: Baseline, skipped: Skipped[]) {
  return {
    id: b.id,
    cameraId: b.cameraId,
    model: b.model,
    frames: b.frames,
    window: b.window,
    windows: b.windows,
    skipped: skipped.length,
    skippedFiles: skipped.slice(0, SKIPPED_LISTED),
    statistics: Object.fromEntries(
      Object.entries(b.statistics).map(([name, s]) => [
        name,
        { mean: s.mean, std: s.std, band: s.band, tested: !!s.calibration },
      ]),
    ),
    classes: b.classes.counts,
    ngRate: b.ngRate.p,
  };
}

function describe(b: Baseline, skipped: Skipped[], storePath: string): string {
  const lines = [
    `baseline ${b.id} for camera ${b.cameraId}, model ${b.model.id} version ${b.model.version} (sha256 ${b.model.sha256.slice(0, 12)}...)`,
    `${b.frames} frames (${skipped.length} skipped), calibrated for windows of ${b.window} decisions; stored in ${storePath}`,
    '',
    `${'statistic'.padEnd(16)}${'mean'.padStart(12)}${'std'.padStart(12)}   band (0.5-99.5 %)`,
  ];
  for (const def of STATS) {
    const s = b.statistics[def.name];
    if (!s) continue;
    const f = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
    lines.push(
      `${def.name.padEnd(16)}${f(s.mean).padStart(12)}${f(s.std).padStart(12)}   ${f(s.band[0])} - ${f(s.band[1])}${s.calibration ? '' : '   (constant: not tested)'}`,
    );
  }
  const classes = Object.entries(b.classes.counts)
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  lines.push('', `classes: ${classes}; NG rate ${(b.ngRate.p * 100).toFixed(1)} %`);
  if (b.windows < 3) {
    lines.push(
      `note: ${b.frames} frames are fewer than 3 windows of ${b.window}: thresholds are calibrated by resampling alone (docs/drift.md)`,
    );
  }
  for (const s of skipped.slice(0, SKIPPED_LISTED)) lines.push(`skipped ${s.file}: ${s.reason}`);
  if (skipped.length > SKIPPED_LISTED) lines.push(`... and ${skipped.length - SKIPPED_LISTED} more skipped`);
  return `${lines.join('\n')}\n`;
}
