import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Keys whose values never reach a log line, wherever they appear. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  '*.*.token',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
];

/**
 * The one root logger (JSON lines, synchronous so nothing is lost at exit), on stdout unless `stderr` is set:
 * a command whose stdout is its report (`check`) keeps the report parseable by sending logs to stderr.
 */
export function createRootLogger(opts: { pretty: boolean; level?: string; stderr?: boolean }): Logger {
  const dest = opts.stderr ? 2 : 1;
  const options = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '***' },
  };
  if (opts.pretty) {
    const tty = opts.stderr ? process.stderr.isTTY : process.stdout.isTTY;
    return pino(options, pretty({ sync: true, destination: dest, colorize: tty }));
  }
  return pino(options, pino.destination({ dest, sync: true }));
}
