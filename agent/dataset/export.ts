import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { Database } from 'better-sqlite3';
import sharp from 'sharp';
import type { RulesConfig } from '../config/index.js';
import { type Decision, resolveNgClasses } from '../decision/index.js';
import { storedFramePath } from './frames.js';
import { type ExportItem, type Layout, layoutOf, placeItem } from './layout.js';
import { ZipWriter } from './zip-writer.js';

/** Items in one archive at most (the manifest lists each; the zip, without zip64, holds 65 535 entries). */
export const MAX_EXPORT_ITEMS = 20_000;
const PAGE = 200;

export interface ExportRequest {
  cameraId: string;
  /** decidedAt >= since (epoch ms) */
  since?: number | undefined;
  limit?: number | undefined;
}

export interface ExportSources {
  db: Database;
  agentId: string;
  imagesDir: string;
  /** where HardExampleStore keeps its frames (`<dir>/<camera>/<sha>.jpg`) */
  hardExamplesDir: string;
  rules: RulesConfig;
}

export interface ExportSummary {
  items: number;
  verified: number;
  unverified: number;
  unlabelled: number;
  /** kept once, gone since (the disk budget or retention dropped the file) */
  missing: number;
  bytes: number;
  task: string | null;
}

interface Row {
  seq: number;
  id: string;
  payload: string;
  imageSha: string | null;
  hardReasons: string | null;
  outcome: 'OK' | 'NG' | null;
  override: 'OK' | 'NG' | 'UNCERTAIN' | null;
}

/** The label a frame gets: ground truth where the plant gave it, else a person's override, else the verdict. */
function labelOf(d: Decision, outcome: Row['outcome'], override: Row['override']) {
  if (outcome) return { label: outcome, source: 'outcome' as const, verified: true };
  if (override === 'OK' || override === 'NG')
    return { label: override, source: 'override' as const, verified: true };
  if (d.verdict === 'OK' || d.verdict === 'NG')
    return { label: d.verdict, source: 'verdict' as const, verified: false };
  return { label: null, source: null, verified: false };
}

/**
 * Streams one camera's kept frames (the image store's: every NG and UNCERTAIN, a sample of OK; and the hard
 * examples) with their labels into a zip, in the layout training tools read for the camera's task
 * (layout.ts): one frame at a time is read and written, so the archive is never in memory. A
 * `manifest.json` closes it: the model versions and recipes involved, the camera's rules, and per item its
 * decision, label, where the label came from and why the frame was kept.
 */
export async function exportDataset(
  src: ExportSources,
  req: ExportRequest,
  out: Writable,
): Promise<ExportSummary> {
  const zip = new ZipWriter(out);
  const limit = Math.min(req.limit ?? MAX_EXPORT_ITEMS, MAX_EXPORT_ITEMS);
  const hasHard = !!src.db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'hard_examples'")
    .get();
  const page = src.db.prepare(
    `SELECT d.seq, d.id, d.payload, i.sha256 AS imageSha,
       ${hasHard ? '(SELECT group_concat(h.reasons) FROM hard_examples h WHERE h.decision_id = d.id)' : 'NULL'} AS hardReasons,
       (SELECT o.actual FROM outcomes o WHERE o.decision_id = d.id ORDER BY o.id DESC LIMIT 1) AS outcome,
       (SELECT v.verdict FROM overrides v WHERE v.decision_id = d.id ORDER BY v.id DESC LIMIT 1) AS override
     FROM decisions d LEFT JOIN images i ON i.seq = d.seq AND i.kind = 'frame'
     WHERE d.camera_id = ? AND d.decided_at >= ? AND d.seq > ?
       AND (i.sha256 IS NOT NULL ${hasHard ? 'OR EXISTS (SELECT 1 FROM hard_examples h WHERE h.decision_id = d.id)' : ''})
     ORDER BY d.seq LIMIT ?`,
  );
  const summary: ExportSummary = {
    items: 0,
    verified: 0,
    unverified: 0,
    unlabelled: 0,
    missing: 0,
    bytes: 0,
    task: null,
  };
  const items: ExportItem[] = [];
  const versions = new Map<string, Set<string>>();
  const recipes = new Set<string>();
  const classes = new Set<string>();
  let layout: Layout | undefined;
  let after = 0;
  while (summary.items < limit) {
    const rows = page.all(req.cameraId, req.since ?? 0, after, PAGE) as Row[];
    if (rows.length === 0) break;
    for (const row of rows) {
      after = row.seq;
      if (summary.items >= limit) break;
      const d = JSON.parse(row.payload) as Decision;
      if (!d.result) continue; // a fallback or an error: no model output to learn from
      layout ??= layoutOf(d.result.task);
      if (layout.task !== d.result.task) continue;
      const sha = d.image?.sha256 ?? row.imageSha;
      const hardPath = sha ? `${src.hardExamplesDir}/${d.cameraId}/${sha}.jpg` : null;
      const path =
        hardPath && existsSync(hardPath)
          ? hardPath
          : row.imageSha
            ? storedFramePath(src.imagesDir, row.imageSha)
            : null;
      if (!path || !existsSync(path)) {
        summary.missing++;
        continue;
      }
      const data = await readFile(path);
      const { label, source, verified } = labelOf(d, row.outcome, row.override);
      const ng =
        d.result.task === 'classification' ? resolveNgClasses(src.rules, Object.keys(d.result.scores)) : [];
      const size = d.result.task === 'detection' ? await sharp(data).metadata() : undefined;
      const reasons = row.hardReasons
        ? [...new Set(row.hardReasons.split(','))]
        : [`kept-${d.verdict.toLowerCase()}`];
      const item = placeItem(layout, {
        decision: d,
        label,
        labelSource: source,
        verified,
        reasons,
        ngClasses: ng,
        imageSize: size?.width && size.height ? { width: size.width, height: size.height } : undefined,
      });
      await zip.add(item.file, data, new Date(d.decidedAt));
      if (item.labelText !== undefined && item.labelFile) {
        await zip.add(item.labelFile, Buffer.from(item.labelText), new Date(d.decidedAt));
      }
      if (item.class) classes.add(item.class);
      for (const c of item.detectionClasses ?? []) classes.add(c);
      const { labelText: _text, detectionClasses: _dc, ...listed } = item;
      items.push(listed);
      if (d.model) versions.set(d.model.id, (versions.get(d.model.id) ?? new Set()).add(d.model.version));
      const recipe = (d as Decision & { recipe?: string }).recipe;
      if (recipe) recipes.add(recipe);
      summary.items++;
      summary.bytes += data.length;
      if (!label) summary.unlabelled++;
      else if (verified) summary.verified++;
      else summary.unverified++;
    }
  }
  summary.task = layout?.task ?? null;
  if (layout?.task === 'detection') {
    const names = [...layout.classIndex.keys()];
    const yaml = `# YOLO dataset (Ultralytics): edge-agent export of camera ${req.cameraId}\npath: .\ntrain: images/labelled\nval: images/labelled\nnames:\n${names.map((n, i) => `  ${i}: ${JSON.stringify(n)}`).join('\n')}\n`;
    await zip.add('data.yaml', Buffer.from(yaml));
  }
  const manifest = {
    schema: 1,
    kind: 'edge-agent dataset',
    agentId: src.agentId,
    camera: req.cameraId,
    since: req.since ?? null,
    exportedAt: Date.now(),
    task: layout?.task ?? null,
    layout: layout?.name ?? null,
    rules: src.rules,
    classes: [...classes].sort(),
    models: Object.fromEntries([...versions].map(([id, v]) => [id, [...v].sort()])),
    recipes: [...recipes].sort(),
    counts: summary,
    items,
  };
  await zip.add('manifest.json', Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`));
  await zip.finish();
  return summary;
}
