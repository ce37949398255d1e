import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { MODEL_FILE_CHECK_MS, type ModelConfig } from '../../agent/config/index.js';
import { REPO, SAMPLES, SLOW_MODEL, tempDir } from './agent-process.js';

const WASHER_DIR = join(REPO, 'models/washer');

/**
 * A copy of the shipped washer model as a new version folder (model.onnx, manifest.yaml, golden/), with the
 * manifest edited by `edit` (a "v2" is the same network with another version string).
 */
export function washerVersion(
  version: string,
  edit: (m: Record<string, unknown>) => void = () => {},
): string {
  const dir = join(tempDir('eva-version-'), `washer-${version}`);
  cpSync(join(WASHER_DIR, 'model.onnx'), join(dir, 'model.onnx'));
  cpSync(join(WASHER_DIR, 'golden'), join(dir, 'golden'), { recursive: true });
  const manifest = parse(readFileSync(join(WASHER_DIR, 'manifest.yaml'), 'utf8')) as Record<string, unknown>;
  manifest.version = version;
  edit(manifest);
  writeFileSync(join(dir, 'manifest.yaml'), stringify(manifest));
  return dir;
}

/** The slow fixture network dressed as a washer version (same labels, no golden images). */
export function slowWasherVersion(version: string): string {
  const dir = join(tempDir('eva-version-'), `slow-${version}`);
  cpSync(SLOW_MODEL, join(dir, 'model.onnx'));
  const manifest = parse(
    readFileSync(join(REPO, 'test/fixtures/models/slow/manifest.yaml'), 'utf8'),
  ) as Record<string, unknown>;
  manifest.id = 'washer';
  manifest.version = version;
  writeFileSync(join(dir, 'manifest.yaml'), stringify(manifest));
  return dir;
}

/** The washer as configured in agent.yaml (version 1, from the repository), with deployment defaults. */
export function washerConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    id: 'washer',
    path: join(WASHER_DIR, 'model.onnx'),
    providers: ['cpu'],
    workers: 1,
    intraOpThreads: 1,
    inboxPollMs: 1_000,
    fileCheckMs: MODEL_FILE_CHECK_MS,
    autoRollback: {
      enabled: true,
      windowMs: 60_000,
      minFrames: 5,
      maxErrorRateIncrease: 0.2,
      maxMissRateIncrease: 0.2,
      // the quality checks added with issue 14 are off here: these tests are about errors and misses
      maxSkipRateIncrease: 1,
      maxLatencyRatio: 1_000,
      minLatencyIncreaseMs: 60_000,
      maxNgRateShift: 1,
      maxAccuracyDrop: 1,
      minOutcomes: 20,
    },
    promotion: {
      minShadowFrames: 0,
      minAgreement: 0,
      maxLatencyRatio: 1_000,
      maxSkippedShare: 1,
      maxAccuracyDrop: 1,
      minOutcomes: 20,
    },
    keepPreviousDays: 14,
    shadowBudget: 1,
    requireSha256: false,
    requireGolden: false,
    ...over,
  };
}

export function sampleFrame(n = 1) {
  const name = `${String(n).padStart(4, '0')}.jpg`;
  return { kind: 'encoded' as const, data: readFileSync(join(SAMPLES, name)), capturedAt: Date.now(), name };
}

/** A manifest edit: golden image `index` now expects `label` (a version whose golden check must fail). */
export function expectGoldenLabel(index: number, label: string): (m: Record<string, unknown>) => void {
  return (m) => {
    const golden = (m.golden as { expect: { label: string } }[])[index];
    if (!golden) throw new Error(`no golden image ${index}`);
    golden.expect.label = label;
  };
}
