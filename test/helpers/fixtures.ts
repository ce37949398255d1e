import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { DecisionDraft } from '../../agent/decision/index.js';
import { DecisionStore } from '../../agent/store/index.js';
import { SAMPLES, tempDir } from './agent-process.js';

/** A logger that writes nothing (set TEST_LOG=1 to see it). */
export const quietLog = pino({ level: process.env.TEST_LOG ? 'debug' : 'silent' });

export function draft(over: Partial<DecisionDraft> = {}): DecisionDraft {
  const now = Date.now();
  return {
    cameraId: 'cam-1',
    triggeredAt: now,
    capturedAt: now,
    decidedAt: now,
    verdict: 'OK',
    reason: 'top class ok 0.97',
    degraded: false,
    model: { id: 'washer', version: '1', sha256: 'ab', provider: 'cpu' },
    result: { task: 'classification', scores: { ok: 0.97, scratch: 0.02, dent: 0.01 } },
    latencyMs: { queue: 0, preprocess: 1, inference: 1, total: 2 },
    image: null,
    ...over,
  };
}

export function tempStore(agentId = 'cell-1'): { store: DecisionStore; path: string } {
  const path = join(tempDir('eva-store-'), 'agent.db');
  return { store: DecisionStore.open({ path, agentId, log: quietLog }), path };
}

/** The demo frames' true labels (`samples/washer/labels.csv`): `[file, label]` pairs. */
export function sampleLabels(): [string, string][] {
  return readFileSync(join(SAMPLES, 'labels.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',') as [string, string]);
}
