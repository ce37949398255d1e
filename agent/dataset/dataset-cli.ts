import { createWriteStream, renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { AgentConfig, CameraConfig } from '../config/index.js';
import { describeError } from '../errors.js';
import { exportDataset } from './export.js';
import { datasetPaths } from './paths.js';
import { formatReport, validateModel } from './validate.js';

/**
 * The work behind `edge-agent dataset export` and `edge-agent model validate` (docs/dataset.md): options
 * arrive checked (agent/dataset-commands.ts parses the command line and loads the config); the report goes
 * to stdout, problems to stderr, and the exit status is returned.
 */

const EXIT_OK = 0;
const EXIT_FAILURE = 1;

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

/** `edge-agent dataset export`: reads the store read-only, beside a running agent if need be. */
export async function runDatasetExport(
  config: AgentConfig,
  camera: CameraConfig,
  opts: { since?: number | undefined; limit?: number | undefined; out: string },
  log: Logger,
): Promise<number> {
  const { since, limit, out } = opts;
  const cameraId = camera.id;
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

/** `edge-agent model validate`: exit 1 when the candidate is less accurate than the line (or than `min`). */
export async function runModelValidate(
  opts: { modelDir: string; dataset: string; all: boolean; min?: number | undefined; json: boolean },
  log: Logger,
): Promise<number> {
  const { modelDir, dataset, min } = opts;
  try {
    const report = await validateModel({ modelDir, dataset, all: opts.all, log });
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    const accuracy = report.candidate.score.accuracy;
    if (accuracy === null) return EXIT_FAILURE; // nothing scored: no evidence for the model
    if (min !== undefined && accuracy < min) return EXIT_FAILURE;
    return (report.accuracyDelta ?? 0) < 0 ? EXIT_FAILURE : EXIT_OK;
  } catch (err) {
    process.stderr.write(`model validate failed: ${describeError(err)}\n`);
    return EXIT_FAILURE;
  }
}
