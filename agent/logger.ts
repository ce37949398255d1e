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

/** The one root logger (JSON lines on stdout, synchronous so nothing is lost at exit). */
export function createRootLogger(opts: { pretty: boolean; level?: string }): Logger {
  const options = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '***' },
  };
  if (opts.pretty) return pino(options, pretty({ sync: true, colorize: process.stdout.isTTY }));
  return pino(options, pino.destination({ dest: 1, sync: true }));
}
