import { type CliCommand, configOption, configPathOf, intOption, UsageError } from './cli/index.js';
import { type AgentConfig, type CameraConfig, loadConfigFile } from './config/index.js';
import { MAX_EXPORT_ITEMS, parseSince, runDatasetExport, runModelValidate } from './dataset/index.js';
import { runBaselineBuild } from './drift/index.js';
import { describeError } from './errors.js';
import { createRootLogger } from './logger.js';

/** The camera `--camera` names, or a usage error listing the configured ones. */
function cameraOf(config: AgentConfig, id: unknown): CameraConfig {
  const camera = config.cameras.find((c) => c.id === id);
  if (camera) return camera;
  const known = config.cameras.map((c) => c.id).join(', ');
  throw new UsageError(
    `--camera must name a configured camera (${known}), got "${String(id).slice(0, 100)}"`,
  );
}

/** `--since DATE` as a time, or a usage error. */
function sinceOf(text: unknown): number | undefined {
  try {
    return parseSince(text as string | undefined);
  } catch (err) {
    throw new UsageError(describeError(err));
  }
}

/** Logs go to stderr, warnings only: stdout carries the command's report. */
const quietLog = () => createRootLogger({ pretty: false, stderr: true, level: 'warn' });

/** `edge-agent dataset export` (CONTRACT section 1; docs/dataset.md). */
export const datasetExportCommand: CliCommand = {
  name: 'dataset export',
  summary: 'export kept frames with their labels for retraining (a zip in the layout training tools read)',
  define: (c) =>
    c
      .addOption(configOption())
      .requiredOption('--camera <id>', 'the camera whose frames to export')
      .option('--since <date>', 'only frames kept since this date (ISO 8601)')
      .option('--limit <n>', 'at most this many frames')
      .requiredOption('--out <file>', 'the zip to write'),
  run: ({ opts, ctx }) => {
    const config = loadConfigFile(configPathOf(opts, ctx.env), ctx.env);
    const camera = cameraOf(config, opts.camera);
    const limit = opts.limit === undefined ? undefined : intOption(opts, 'limit', 1);
    if (limit !== undefined && limit > MAX_EXPORT_ITEMS)
      throw new UsageError(`--limit must be at most ${MAX_EXPORT_ITEMS}, got ${limit}`);
    const out = opts.out as string;
    return runDatasetExport(config, camera, { since: sinceOf(opts.since), limit, out }, quietLog());
  },
};

/** `edge-agent model validate` (CONTRACT section 1; docs/dataset.md). */
export const modelValidateCommand: CliCommand = {
  name: 'model validate',
  summary: "score a model version against a labelled export, next to the line's active version",
  define: (c) =>
    c
      .requiredOption('--model <dir>', 'the model version folder (model.onnx and its manifest)')
      .requiredOption('--dataset <file>', 'an archive made by `dataset export`')
      .option('--all', 'count unverified labels too (the verdict, not a person, said them)')
      .option('--min-accuracy <x>', 'exit 1 below this accuracy')
      .option('--json', 'print the report as JSON'),
  run: ({ opts }) => {
    const min = opts.minAccuracy === undefined ? undefined : Number(opts.minAccuracy);
    if (min !== undefined && !(min >= 0 && min <= 1))
      throw new UsageError(`--min-accuracy must be a number from 0 to 1, got ${String(opts.minAccuracy)}`);
    const [modelDir, dataset] = [opts.model as string, opts.dataset as string];
    const [all, json] = [opts.all === true, opts.json === true];
    return runModelValidate({ modelDir, dataset, all, min, json }, quietLog());
  },
};

/** `edge-agent baseline build` (CONTRACT section 1; docs/drift.md). */
export const baselineBuildCommand: CliCommand = {
  name: 'baseline build',
  summary: "build a camera's drift baseline from commissioning images (a progress bar on a TTY)",
  define: (c) =>
    c
      .addOption(configOption())
      .requiredOption('--camera <id>', 'the camera the baseline is for (its model judges the images)')
      .requiredOption('--from <dir>', 'a folder of commissioning images')
      .option('--json', 'print the result as JSON'),
  run: ({ opts, ctx }) => {
    const config = loadConfigFile(configPathOf(opts, ctx.env), ctx.env);
    const [camera, from] = [opts.camera as string, opts.from as string];
    // stdout carries the result (text or --json); logs go to stderr
    const log = createRootLogger({ pretty: ctx.stderr.isTTY === true, stderr: true });
    return runBaselineBuild(config, { camera, from, json: opts.json === true }, log);
  },
};
