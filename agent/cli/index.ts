export {
  buildProgram,
  type CliCommand,
  type CliContext,
  configOption,
  configPathOf,
  EXIT_CONFIG,
  EXIT_FAILURE,
  EXIT_OK,
  type Invocation,
  intOption,
  processContext,
  runCli,
  UsageError,
} from './program.js';
export { createProgress, type Progress } from './progress.js';
export { SystemdNotifier, WATCHDOG_FRACTION } from './sd-notify.js';
