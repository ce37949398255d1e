import { benchCommand } from './bench-cli.js';
import { checkCommand } from './check.js';
import type { CliCommand } from './cli/index.js';
import { configSchemaCommand } from './config-command.js';
import { baselineBuildCommand, datasetExportCommand, modelValidateCommand } from './dataset-commands.js';
import { modelInspectCommand } from './model-inspect.js';
import { runCommand } from './run-command.js';

/**
 * Every command of `edge-agent`, in the order `--help` lists them. A new command is one file exporting a
 * CliCommand (see agent/cli/program.ts) and one line here.
 */
export const COMMANDS: readonly CliCommand[] = [
  runCommand,
  checkCommand,
  configSchemaCommand,
  modelInspectCommand,
  modelValidateCommand,
  datasetExportCommand,
  baselineBuildCommand,
  benchCommand,
];
