import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RulesConfig } from '../config/index.js';
import { judge } from '../decision/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import { ModelRunner } from '../inference/index.js';
import { addToScore, emptyScore, type Score } from '../models/index.js';
import type { ExportItem } from './layout.js';
import { MAX_ENTRY_BYTES, ZipReader } from './zip-reader.js';

const VERDICTS = ['OK', 'NG', 'UNCERTAIN', 'ERROR'] as const;
type Predicted = (typeof VERDICTS)[number];

/** Rows: the label (ground truth, or the line's verdict with --all); columns: the verdict given. */
export type Confusion = Record<'OK' | 'NG', Record<Predicted, number>>;

export interface Scored {
  score: Score;
  confusion: Confusion;
}

export interface ValidationReport {
  dataset: { path: string; camera: string; task: string | null; items: number; used: number };
  candidate: Scored & { model: string; version: string; provider: string | null };
  /** the verdicts the line gave these frames when they were judged, by the versions named */
  line: Scored & { versions: string[] };
  /** candidate accuracy minus the line's */
  accuracyDelta: number | null;
}

interface Manifest {
  schema: number;
  kind: string;
  camera: string;
  task: string | null;
  rules: RulesConfig;
  items: ExportItem[];
}

function emptyConfusion(): Confusion {
  const row = () => ({ OK: 0, NG: 0, UNCERTAIN: 0, ERROR: 0 });
  return { OK: row(), NG: row() };
}

function add(s: Scored, predicted: Predicted, actual: 'OK' | 'NG'): void {
  s.score = addToScore(s.score, predicted, actual);
  s.confusion[actual][predicted]++;
}

function readManifest(zip: ZipReader): Manifest {
  if (!zip.has('manifest.json')) {
    throw new AgentError(
      ErrorCodes.DATASET_INVALID,
      `${zip.path}: no manifest.json (not an edge-agent dataset export)`,
    );
  }
  let m: Manifest;
  try {
    m = JSON.parse(zip.read('manifest.json').toString('utf8')) as Manifest;
  } catch (err) {
    throw new AgentError(
      ErrorCodes.DATASET_INVALID,
      `${zip.path}: manifest.json is not JSON: ${describeError(err)}`,
    );
  }
  if (m?.kind !== 'edge-agent dataset' || m.schema !== 1 || !Array.isArray(m.items)) {
    throw new AgentError(
      ErrorCodes.DATASET_INVALID,
      `${zip.path}: manifest.json is not an edge-agent dataset (schema 1)`,
    );
  }
  return m;
}

/**
 * Scores a model version (a folder: model.onnx and its manifest, as installed) against a labelled export:
 * every frame with a ground-truth label (`all`: the line's own verdicts as labels too) is judged with the
 * camera's rules the export recorded, and compared; next to it the verdicts the line gave the same frames.
 * Accuracy, NG precision/recall and the confusion matrix, as `GroundTruth` defines them
 * (models/ground-truth.ts). The model runs here, on the CPU, in worker threads like on the line.
 */
export async function validateModel(opts: {
  modelDir: string;
  dataset: string;
  all?: boolean;
  log: Logger;
}): Promise<ValidationReport> {
  const zip = ZipReader.open(opts.dataset);
  const runner = new ModelRunner(
    {
      id: 'candidate',
      path: join(opts.modelDir, 'model.onnx'),
      providers: ['cpu'],
      workers: 1,
      intraOpThreads: 0,
    },
    opts.log,
  );
  try {
    const m = readManifest(zip);
    await runner.start();
    const s = runner.snapshot();
    if (runner.state !== 'ready') {
      throw new AgentError(ErrorCodes.MODEL_LOAD, `the model in ${opts.modelDir} does not load: ${s.error}`);
    }
    const candidate: Scored = { score: emptyScore(), confusion: emptyConfusion() };
    const line: Scored = { score: emptyScore(), confusion: emptyConfusion() };
    const versions = new Set<string>();
    let used = 0;
    for (const item of m.items) {
      if (!item.label || (!item.verified && !opts.all)) continue;
      const entry = zip.entry(item.file);
      if (!entry || entry.size > MAX_ENTRY_BYTES) continue;
      const data = zip.read(item.file);
      let predicted: Predicted;
      try {
        const inference = await runner.infer({ kind: 'encoded', data, capturedAt: Date.now() });
        predicted = judge(inference.result, m.rules, runner.labels).outcome.verdict as Predicted;
      } catch (err) {
        opts.log.warn({ file: item.file, err: describeError(err) }, 'frame not judged');
        predicted = 'ERROR';
      }
      add(candidate, predicted, item.label);
      const recorded = (VERDICTS as readonly string[]).includes(item.verdict)
        ? (item.verdict as Predicted)
        : 'ERROR';
      add(line, recorded, item.label);
      if (item.model) versions.add(item.model.version);
      used++;
    }
    const a = candidate.score.accuracy;
    const b = line.score.accuracy;
    return {
      dataset: { path: opts.dataset, camera: m.camera, task: m.task, items: m.items.length, used },
      candidate: {
        ...candidate,
        model: runner.manifest?.manifest.id ?? s.id,
        version: s.version ?? '?',
        provider: s.provider,
      },
      line: { ...line, versions: [...versions].sort() },
      accuracyDelta: a !== null && b !== null ? a - b : null,
    };
  } finally {
    zip.close();
    await runner.stop();
  }
}

/** The report as a person reads it. */
export function formatReport(r: ValidationReport): string {
  const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
  const block = (title: string, s: Scored) => {
    const rows = (['OK', 'NG'] as const).map(
      (a) => `    ${a.padEnd(18)}${VERDICTS.map((p) => String(s.confusion[a][p]).padStart(10)).join('')}`,
    );
    return [
      `${title}: accuracy ${pct(s.score.accuracy)} on ${s.score.outcomes}, NG precision ${pct(s.score.ngPrecision)}, NG recall ${pct(s.score.ngRecall)}`,
      `    ${'actual \\ verdict'.padEnd(18)}${VERDICTS.map((p) => p.padStart(10)).join('')}`,
      ...rows,
    ].join('\n');
  };
  return [
    `dataset ${r.dataset.path}: camera ${r.dataset.camera}, ${r.dataset.task ?? '?'}, ${r.dataset.used} of ${r.dataset.items} frames scored`,
    block(`candidate ${r.candidate.model} version ${r.candidate.version}`, r.candidate),
    block(`the line (versions ${r.line.versions.join(', ') || '?'})`, r.line),
    `accuracy vs the line: ${r.accuracyDelta === null ? '-' : `${r.accuracyDelta >= 0 ? '+' : ''}${(r.accuracyDelta * 100).toFixed(1)} points`}`,
  ].join('\n');
}
