/**
 * The benchmark's models: the shipped ones (models/) and the generated ones (bench/models/make_models.py:
 * MobileNetV3-Small, ResNet18, a YOLOv8n-sized detector), made once into the cache when Python with torch
 * is here. Without it they are skipped, and the report says so.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchModel {
  id: string;
  path: string;
}

export const GENERATED = ['mobilenetv3s', 'resnet18', 'yolo-det'] as const;
export const SHIPPED = ['washer', 'washer-det', 'washer-anomaly', 'washer-int8', 'washer-fp16'] as const;

/** Debian's python3 first (TESTING.md: the one with python3-torch), then whatever python3 is on PATH. */
function pythonWithTorch(): string | undefined {
  for (const python of [process.env.BENCH_PYTHON, '/usr/bin/python3', 'python3']) {
    if (!python) continue;
    const probe = spawnSync(python, ['-c', 'import torch, torchvision, onnx'], { stdio: 'ignore' });
    if (probe.status === 0) return python;
  }
  return undefined;
}

/**
 * The models asked for, in order: shipped ones from `repo/models`, generated ones from the cache (made
 * there first if missing and Python with torch is here). What cannot be had is listed in `skipped`.
 */
export function resolveModels(
  repo: string,
  cacheDir: string,
  ids: readonly string[],
  say: (line: string) => void,
): { models: BenchModel[]; skipped: string[] } {
  const models: BenchModel[] = [];
  const skipped: string[] = [];
  const modelsDir = join(cacheDir, 'models');
  const missing = ids.filter(
    (id) => (GENERATED as readonly string[]).includes(id) && !existsSync(join(modelsDir, id, 'model.onnx')),
  );
  let python: string | undefined;
  if (missing.length > 0) {
    python = pythonWithTorch();
    if (python) {
      say(
        `making ${missing.join(', ')} with ${python} bench/models/make_models.py (once; cached in ${modelsDir})`,
      );
      mkdirSync(modelsDir, { recursive: true });
      execFileSync(python, [join(repo, 'bench/models/make_models.py'), modelsDir, ...missing], {
        stdio: ['ignore', 'inherit', 'inherit'],
      });
    } else {
      const why =
        'python3 with torch, torchvision and onnx is not here (apt-get install python3-torch python3-torchvision python3-onnx)';
      say(`!!! SKIPPING ${missing.join(', ')}: ${why}`);
    }
  }
  for (const id of ids) {
    const shipped = (SHIPPED as readonly string[]).includes(id);
    const path = shipped ? join(repo, 'models', id, 'model.onnx') : join(modelsDir, id, 'model.onnx');
    if (!shipped && !(GENERATED as readonly string[]).includes(id)) {
      skipped.push(
        `${id}: unknown model (shipped: ${SHIPPED.join(', ')}; generated: ${GENERATED.join(', ')})`,
      );
    } else if (!existsSync(path)) {
      skipped.push(`${id}: not generated (python3 with torch, torchvision and onnx is not on this machine)`);
    } else {
      models.push({ id, path });
    }
  }
  return { models, skipped };
}
