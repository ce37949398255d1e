import { readFile } from 'node:fs/promises';
import type { Frame } from '../capture/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { Clock } from '../service.js';
import type { LoadedManifest } from './manifest.js';
import type { GoldenSpec } from './manifest-schema.js';
import type { TaskResult } from './result.js';

export function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2] as number, b[2] as number) - Math.max(a[0] as number, b[0] as number);
  const h = Math.min(a[3] as number, b[3] as number) - Math.max(a[1] as number, b[1] as number);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const area = (x: readonly number[]) =>
    ((x[2] as number) - (x[0] as number)) * ((x[3] as number) - (x[1] as number));
  return inter / (area(a) + area(b) - inter);
}

/**
 * Why a golden image's result is not what the manifest expects, or null when it is.
 * classification: top label is expect.label with at least minScore (default 0.5);
 * detection: exactly the expected boxes, each matched once by label and IoU >= minIou;
 * anomaly: score >= threshold iff anomalous, and score within tolerance when a score is given.
 */
export function goldenFailure(golden: GoldenSpec, result: TaskResult): string | null {
  const e = golden.expect;
  if (result.task === 'classification') {
    const minScore = e.minScore ?? 0.5;
    const top = Object.entries(result.scores).sort((a, b) => b[1] - a[1])[0];
    const score = result.scores[e.label ?? ''] ?? 0;
    return top?.[0] === e.label && score >= minScore
      ? null
      : `expected ${e.label} >= ${minScore}, got ${top?.[0]} ${top?.[1]}`;
  }
  if (result.task === 'detection') {
    const expected = e.detections ?? [];
    const free = result.detections.map((d) => d);
    const missing: string[] = [];
    for (const want of expected) {
      let best = -1;
      let bestIou = e.minIou;
      for (const [i, got] of free.entries()) {
        const v = got.label === want.label ? iou(got.box, want.box) : 0;
        if (v >= bestIou) {
          best = i;
          bestIou = v;
        }
      }
      if (best < 0) missing.push(`${want.label} [${want.box.join(', ')}]`);
      else free.splice(best, 1);
    }
    if (missing.length === 0 && free.length === 0) return null;
    const extra = free.map((d) => `${d.label} ${d.score} [${d.box.join(', ')}]`);
    return [
      missing.length ? `missing ${missing.join('; ')}` : '',
      extra.length ? `unexpected ${extra.join('; ')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
  }
  const anomalous = result.score >= result.threshold;
  if (anomalous !== e.anomalous) {
    return `expected ${e.anomalous ? 'anomalous' : 'normal'}, got score ${result.score} (threshold ${result.threshold})`;
  }
  if (e.score !== undefined && Math.abs(result.score - e.score) > e.tolerance) {
    return `expected score ${e.score} ± ${e.tolerance}, got ${result.score}`;
  }
  return null;
}

/** Every golden image must give its expected result (goldenFailure says what matches, per task). */
export async function checkGoldenImages(
  loaded: LoadedManifest,
  infer: (frame: Frame) => Promise<{ result: TaskResult }>,
  clock: Clock,
): Promise<void> {
  const failures: string[] = [];
  for (const [i, golden] of loaded.manifest.golden.entries()) {
    const path = loaded.goldenPaths[i] as string;
    try {
      const data = await readFile(path);
      const frame: Frame = { kind: 'encoded', data, capturedAt: clock.now(), name: path };
      const { result } = await infer(frame);
      const failure = goldenFailure(golden, result);
      if (failure) failures.push(`${golden.image}: ${failure}`);
    } catch (err) {
      failures.push(`${golden.image}: ${describeError(err)}`);
    }
  }
  if (failures.length > 0) {
    throw new AgentError(
      ErrorCodes.MODEL_GOLDEN,
      `model ${loaded.manifest.id} version ${loaded.manifest.version}: golden images failed: ${failures.join('; ')}`,
    );
  }
}
