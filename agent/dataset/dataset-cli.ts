import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { ConfigError, loadConfigFile } from '../config/index.js';
import { describeError } from '../errors.js';
import { exportDataset, MAX_EXPORT_ITEMS } from './export.js';
import { datasetPaths } from './paths.js';
import { formatReport, validateModel } from './validate.js';

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_CONFIG = 78;

export const DATASET_USAGE = `Usage:
  edge-agent dataset export -c FILE --camera ID [--since DATE] [--limit N] --out FILE.zip
      kept frames of one camera (NG, UNCERTAIN, a sample of OK, the hard examples) with their labels
      (plant outcomes and overrides where given, else the verdict, marked unverified), in the layout
      training tools read for the camera's task; DATE is ISO 8601 (2025-11-20 or 2025-11-20T06:00:00Z)
  edge-agent model validate --model DIR --dataset FILE.zip [--all] [--min-accuracy X] [--json]
      scores a model version folder against a labelled export next to the line's own verdicts; exit 1
      when it is less accurate than the line (or than X)`;

/** A date as a person types it, or a clear refusal. */
export function parseSince(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) {
    throw new Error(
      `--since must be an ISO 8601 date or time (2025-11-20, 2025-11-20T06:00:00Z), got "${text.slice(0, 40)}"`,
    );
  }
  return ms;
}

/** `edge-agent dataset export ...`: reads the store read-only, beside a running agent if need be. */
export async function runDatasetCli(argv: string[], log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        camera: { type: 'string' },
        since: { type: 'string' },
        limit: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n${DATASET_USAGE}\n`);
    return EXIT_FAILURE;
  }
  if (values.help || sub !== 'export') {
    (values.help ? process.stdout : process.stderr).write(`${DATASET_USAGE}\n`);
    return values.help ? EXIT_OK : EXIT_FAILURE;
  }
  const configPath = (values.config as string | undefined) ?? process.env.EDGE_AGENT_CONFIG ?? './agent.yaml';
  let config: ReturnType<typeof loadConfigFile>;
  try {
    config = loadConfigFile(configPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`bad config: ${err.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  const cameraId = values.camera as string | undefined;
  const out = values.out as string | undefined;
  const camera = config.cameras.find((c) => c.id === cameraId);
  if (!cameraId || !out || !camera) {
    const known = config.cameras.map((c) => c.id).join(', ');
    process.stderr.write(
      `${!out ? '--out FILE.zip is required' : `--camera must name a configured camera (${known})`}\n${DATASET_USAGE}\n`,
    );
    return EXIT_FAILURE;
  }
  let since: number | undefined;
  let limit: number | undefined;
  try {
    since = parseSince(values.since as string | undefined);
    if (values.limit !== undefined) {
      limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EXPORT_ITEMS) {
        throw new Error(`--limit must be an integer from 1 to ${MAX_EXPORT_ITEMS}`);
      }
    }
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n`);
    return EXIT_FAILURE;
  }
  const paths = datasetPaths(config);
  let db: Database.Database;
  try {
    db = new Database(config.store.path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    process.stderr.write(`cannot open the store ${config.store.path}: ${describeError(err)}\n`);
    return EXIT_FAILURE;
  }
  // written under a temporary name: a failed export never leaves a half archive under the name asked for
  const partial = `${out}.part`;
  try {
    const summary = await exportDataset(
      { db, agentId: config.agent.id, ...paths, rules: camera.rules },
      { cameraId, since, limit },
      createWriteStream(partial),
    );
    renameSync(partial, out);
    process.stdout.write(
      `${out}: ${summary.items} frames (${summary.verified} labelled by ground truth, ${summary.unverified} by the verdict, ${summary.unlabelled} unlabelled), ${summary.task ?? 'no'} layout${summary.missing ? `; ${summary.missing} kept frames are gone from disk` : ''}\n`,
    );
    return EXIT_OK;
  } catch (err) {
    log.error({ err }, 'dataset export failed');
    rmSync(partial, { force: true });
    process.stderr.write(`dataset export failed: ${describeError(err)}\n`);
    return EXIT_FAILURE;
  } finally {
    db.close();
  }
}

/** `edge-agent model validate ...`. */
export async function runValidateCli(argv: string[], log: Logger): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        dataset: { type: 'string' },
        all: { type: 'boolean', default: false },
        'min-accuracy': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n${DATASET_USAGE}\n`);
    return EXIT_FAILURE;
  }
  if (values.help) {
    process.stdout.write(`${DATASET_USAGE}\n`);
    return EXIT_OK;
  }
  const modelDir = values.model as string | undefined;
  const dataset = values.dataset as string | undefined;
  const min = values['min-accuracy'] === undefined ? undefined : Number(values['min-accuracy']);
  if (!modelDir || !dataset || (min !== undefined && !(min >= 0 && min <= 1))) {
    process.stderr.write(
      `--model DIR and --dataset FILE.zip are required; --min-accuracy is 0..1\n${DATASET_USAGE}\n`,
    );
    return EXIT_FAILURE;
  }
  try {
    const report = await validateModel({ modelDir, dataset, all: values.all === true, log });
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    const accuracy = report.candidate.score.accuracy;
    if (accuracy === null) return EXIT_FAILURE; // nothing scored: no evidence for the model
    if (min !== undefined && accuracy < min) return EXIT_FAILURE;
    return (report.accuracyDelta ?? 0) < 0 ? EXIT_FAILURE : EXIT_OK;
  } catch (err) {
    process.stderr.write(`model validate failed: ${describeError(err)}\n`);
    return EXIT_FAILURE;
  }
}
