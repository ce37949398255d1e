import type { Decision } from '../decision/index.js';

/**
 * Where each frame goes in the archive, by task, in the layouts the common training tools read:
 * - classification, torchvision ImageFolder: `labelled/<class>/<file>.jpg` (Ultralytics classify reads the
 *   same tree);
 * - detection, Ultralytics YOLO: `images/labelled/<file>.jpg` + `labels/labelled/<file>.txt`
 *   (`class cx cy w h`, normalised) and `data.yaml`;
 * - anomaly, anomalib Folder: `labelled/good/` (normal) and `labelled/defect/` (abnormal).
 * `labelled/` holds frames whose label is ground truth (a plant outcome or a person's override);
 * `unverified/` the ones labelled by the line's own verdict; `unlabelled/` UNCERTAIN frames nobody has
 * labelled yet (what most needs a person).
 */
export interface Layout {
  task: 'classification' | 'detection' | 'anomaly';
  name: 'imagefolder' | 'yolo' | 'anomalib-folder';
  /** detection: class index by name, in order of first appearance (data.yaml lists them so) */
  classIndex: Map<string, number>;
}

export function layoutOf(task: Layout['task']): Layout {
  const name = task === 'classification' ? 'imagefolder' : task === 'detection' ? 'yolo' : 'anomalib-folder';
  return { task, name, classIndex: new Map() };
}

/** One frame in the archive, as manifest.json lists it. */
export interface ExportItem {
  file: string;
  labelFile?: string | undefined;
  decisionId: string;
  seq: number;
  decidedAt: number;
  verdict: string;
  /** OK or NG; null when nobody has said and the verdict was UNCERTAIN */
  label: 'OK' | 'NG' | null;
  labelSource: 'outcome' | 'override' | 'verdict' | null;
  verified: boolean;
  /** classification: the class folder; for NG the defect class is the model's best NG class (classSource) */
  class?: string | undefined;
  classSource?: 'label' | 'model' | undefined;
  reasons: string[];
  model: { id: string; version: string } | null;
  recipe?: string | undefined;
  result: Decision['result'];
  /** written to the label file, not listed */
  labelText?: string | undefined;
  detectionClasses?: string[] | undefined;
}

/** A class name as a folder name: what a file system and every trainer accept. */
function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64) || '_';
}

export function placeItem(
  layout: Layout,
  p: {
    decision: Decision;
    label: 'OK' | 'NG' | null;
    labelSource: ExportItem['labelSource'];
    verified: boolean;
    reasons: string[];
    ngClasses: readonly string[];
    imageSize?: { width: number; height: number } | undefined;
  },
): ExportItem {
  const d = p.decision;
  const split = p.label === null ? 'unlabelled' : p.verified ? 'labelled' : 'unverified';
  const base = `${d.seq}-${(d.image?.sha256 ?? d.id).slice(0, 12)}`;
  const item: ExportItem = {
    file: '',
    decisionId: d.id,
    seq: d.seq,
    decidedAt: d.decidedAt,
    verdict: d.verdict,
    label: p.label,
    labelSource: p.labelSource,
    verified: p.verified,
    reasons: p.reasons,
    model: d.model ? { id: d.model.id, version: d.model.version } : null,
    ...((d as Decision & { recipe?: string }).recipe
      ? { recipe: (d as Decision & { recipe?: string }).recipe }
      : {}),
    result: d.result,
  };
  const r = d.result;
  if (layout.task === 'classification' && r?.task === 'classification') {
    const labels = Object.keys(r.scores);
    let cls = 'unknown';
    let classSource: ExportItem['classSource'];
    if (p.label === 'OK') {
      cls = labels.find((l) => !p.ngClasses.includes(l)) ?? 'ok';
      classSource = 'label';
    } else if (p.label === 'NG') {
      // an outcome says NG, not which defect: the model's strongest NG class, marked as the model's
      cls = [...p.ngClasses].sort((a, b) => (r.scores[b] ?? 0) - (r.scores[a] ?? 0))[0] ?? 'ng';
      classSource = 'model';
    }
    item.class = safe(cls);
    if (classSource) item.classSource = classSource;
    item.file = `${split}/${item.class}/${base}.jpg`;
  } else if (layout.task === 'detection' && r?.task === 'detection') {
    item.file = `images/${split}/${base}.jpg`;
    if (p.label !== null) {
      item.labelFile = `labels/${split}/${base}.txt`;
      // OK: no defect in the frame, an empty label file (a background image); NG: the model's boxes
      const boxes = p.label === 'OK' ? [] : r.detections;
      const { width, height } = p.imageSize ?? { width: 0, height: 0 };
      item.detectionClasses = boxes.map((b) => b.label);
      item.labelText = boxes
        .filter(() => width > 0 && height > 0)
        .map((b) => {
          let index = layout.classIndex.get(b.label);
          if (index === undefined) {
            index = layout.classIndex.size;
            layout.classIndex.set(b.label, index);
          }
          const [x1, y1, x2, y2] = b.box;
          const f = (v: number) => v.toFixed(6);
          return `${index} ${f((x1 + x2) / 2 / width)} ${f((y1 + y2) / 2 / height)} ${f((x2 - x1) / width)} ${f((y2 - y1) / height)}\n`;
        })
        .join('');
    }
  } else {
    const folder = p.label === 'NG' ? 'defect' : p.label === 'OK' ? 'good' : 'unknown';
    item.file = `${split}/${folder}/${base}.jpg`;
  }
  return item;
}
