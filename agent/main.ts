/**
 * The process: argv, exit codes (CONTRACT section 1). The commands are in commands.ts, one file each; the
 * command line is parsed by cli/program.ts (commander); `run` owns signals and systemd notify.
 *   0 clean stop / all good; 1 start failure / a problem found / a wrong command line; 78 bad config.
 */
// sharp is loaded in the main thread before any worker exists, so its shared libraries stay mapped
import 'sharp';
import { EXIT_FAILURE, processContext, runCli } from './cli/index.js';
import { COMMANDS } from './commands.js';
import { describeError } from './errors.js';

export { EXIT_CONFIG, EXIT_FAILURE, EXIT_OK } from './cli/index.js';

runCli(process.argv.slice(2), COMMANDS, processContext()).then(
  (code) => {
    process.exitCode = code;
    // workers, timers and sockets are closed by now; exit explicitly so a stray handle cannot keep us up.
    // stdout may be a pipe still draining (help, a report): exit once it has been written
    process.stdout.write('', () => setImmediate(() => process.exit(code)));
  },
  (err: unknown) => {
    // a bug in the CLI itself: one line, not a stack (EDGE_AGENT_DEBUG=1 shows it)
    const detail = process.env.EDGE_AGENT_DEBUG ? (err as Error)?.stack : describeError(err);
    process.stderr.write(`edge-agent: ${detail}\n`);
    process.exit(EXIT_FAILURE);
  },
);
