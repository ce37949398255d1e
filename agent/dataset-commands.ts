import type { CliCommand } from './cli/index.js';
import { configOption } from './cli/index.js';
import { runDatasetCli, runValidateCli } from './dataset/index.js';
import { runBaselineCli } from './drift/index.js';
import { createRootLogger } from './logger.js';

/** Options as commander gave them, back into the argv the dataset CLI reads (it parses its own). */
function argvOf(opts: Record<string, unknown>, names: readonly string[]): string[] {
  const argv: string[] = [];
  for (const name of names) {
    const value = opts[name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
    if (value === undefined || value === false) continue;
    argv.push(`--${name}`);
    if (value !== true) argv.push(String(value));
  }
  return argv;
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
  run: ({ opts }) =>
    runDatasetCli(['export', ...argvOf(opts, ['config', 'camera', 'since', 'limit', 'out'])], quietLog()),
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
  run: ({ opts }) =>
    runValidateCli(argvOf(opts, ['model', 'dataset', 'all', 'min-accuracy', 'json']), quietLog()),
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
  run: ({ opts }) => runBaselineCli(['build', ...argvOf(opts, ['config', 'camera', 'from', 'json'])]),
};
