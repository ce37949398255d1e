import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Decision, DecisionDraft, Evidence } from '../decision/index.js';
import { describeError } from '../errors.js';
import type { TaskResult } from '../inference/index.js';
import type { Clock } from '../service.js';
import type { DiskBudget } from './disk-budget.js';
import { CONTENT_TYPES, type ImageKind } from './image-codec.js';
import type { ImageStore, PreparedImage, WrittenImage } from './image-store.js';

/**
 * Time kept back before a verdict's `dueAt` for what follows the encode wait: the image file writes, the
 * decision's FULL-sync commit (an fsync: tens of ms on an SD card or eMMC) and the publish. Encoding waits
 * at most until `dueAt - STORE_MARGIN_MS`, and with less time than this left no encoder is started at all.
 */
export const STORE_MARGIN_MS = 50;

/**
 * Encodes within the time left before the verdict is due, less STORE_MARGIN_MS; what is not ready by then
 * is not kept (counted as `image_late`; the verdict is recorded with `image.stored: false`).
 */
export async function prepareInTime(
  images: ImageStore,
  budget: DiskBudget,
  evidence: Evidence,
  draft: DecisionDraft,
  deps: { clock: Clock; log: Logger },
): Promise<PreparedImage[]> {
  const budgetMs = Math.max(0, evidence.dueAt - STORE_MARGIN_MS - deps.clock.now());
  // a fallback is recorded at (or past) its deadline; a frame in its last milliseconds has no time either
  const encode = !draft.degraded && budgetMs > 0;
  const jobs = images.prepare(evidence, draft, encode);
  if (jobs.length === 0) {
    budget.count('image_late');
    return [];
  }
  const done: (PreparedImage | undefined)[] = jobs.map(() => undefined);
  const failed: boolean[] = jobs.map(() => false);
  const all = Promise.all(
    jobs.map((job, i) =>
      job.then(
        (p) => {
          done[i] = p;
        },
        (err: unknown) => {
          failed[i] = true;
          deps.log.warn({ err, cameraId: draft.cameraId }, 'image not kept: encoding failed');
        },
      ),
    ),
  );
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const due = new Promise<void>((resolve) => {
    timer = deps.clock.setTimeout(resolve, budgetMs);
  });
  await Promise.race([all, due]);
  if (timer !== undefined) deps.clock.clearTimeout(timer);
  const late = jobs.filter((_, i) => !done[i] && !failed[i]).length;
  budget.count('image_encode_failed', failed.filter(Boolean).length);
  budget.count('image_late', late);
  return done.filter((p): p is PreparedImage => p !== undefined);
}

/** The payload's `image` names the stored frame's file; anomaly results say whether their map was kept. */
export function withImages(draft: DecisionDraft, written: readonly WrittenImage[]): DecisionDraft {
  const frame = written.find((w) => w.kind === 'frame');
  const image = frame
    ? { sha256: frame.sha256, stored: true }
    : draft.image
      ? { ...draft.image, stored: false }
      : null;
  let result: TaskResult | null = draft.result;
  if (result?.task === 'anomaly') {
    result = { ...result, mapStored: written.some((w) => w.kind === 'anomaly-map') };
  }
  return { ...draft, image, result };
}

export function whyMissing(decision: Decision, kind: ImageKind): string {
  if (kind === 'frame' && decision.image?.stored) {
    return 'the image was stored but has since been dropped (disk budget or retention)';
  }
  if (kind !== 'frame') return `no ${kind} image was kept for this decision`;
  return 'no image was kept for this decision (only NG, UNCERTAIN and 1 in store.keepOkImageEvery OK frames are kept)';
}

export type ImageLookup =
  | { found: true; contentType: string; data: Buffer; sha256: string }
  | { found: false; reason: string };

/** A decision's stored image, or why there is none (`GET /api/decisions/:id/image`). */
export function lookupImage(
  images: ImageStore,
  decision: Decision | undefined,
  kind: ImageKind,
): ImageLookup {
  if (!decision) return { found: false, reason: 'no such decision' };
  const hit = images.find(decision.seq, kind);
  if (!hit) return { found: false, reason: whyMissing(decision, kind) };
  try {
    return {
      found: true,
      contentType: CONTENT_TYPES[kind],
      data: readFileSync(hit.path),
      sha256: hit.row.sha256,
    };
  } catch (err) {
    return { found: false, reason: `the image file is missing on disk (${describeError(err)})` };
  }
}
