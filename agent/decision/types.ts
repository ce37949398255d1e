import type { ModelRef, TaskResult } from '../inference/index.js';

/** The shapes that flow from decision to store to sync (CONTRACT section 3). */

export type Verdict = 'OK' | 'NG' | 'UNCERTAIN' | 'ERROR';

export interface LatencyMs {
  queue: number;
  preprocess: number;
  inference: number;
  total: number;
}

/** A decision before the store gives it its identity (`id`, `seq`). */
export interface DecisionDraft {
  cameraId: string;
  partId?: string;
  /** The recipe the part was judged by, when recipes are configured (CONTRACT section 3). */
  recipe?: string;
  triggeredAt: number;
  capturedAt: number | null;
  decidedAt: number;
  verdict: Verdict;
  reason: string;
  degraded: boolean;
  model: ModelRef | null;
  result: TaskResult | null;
  latencyMs: LatencyMs;
  image: { sha256: string; stored: boolean } | null;
  /** Store-only: what the frame was (a file's name, size and mtime), so it is never inspected twice. */
  sourceRef?: string;
}

/** A stored decision, exactly as published (`historical` is set at publish time). */
export interface Decision extends Omit<DecisionDraft, 'sourceRef'> {
  schema: 1;
  id: string;
  seq: number;
  agentId: string;
  historical: boolean;
}

/** The published shape, keys in CONTRACT order (readable for people watching the topic). */
export function composeDecision(
  draft: DecisionDraft,
  identity: { id: string; seq: number; agentId: string },
  historical = false,
): Decision {
  return {
    schema: 1,
    id: identity.id,
    seq: identity.seq,
    agentId: identity.agentId,
    cameraId: draft.cameraId,
    ...(draft.partId !== undefined ? { partId: draft.partId } : {}),
    ...(draft.recipe !== undefined ? { recipe: draft.recipe } : {}),
    triggeredAt: draft.triggeredAt,
    capturedAt: draft.capturedAt,
    decidedAt: draft.decidedAt,
    verdict: draft.verdict,
    reason: draft.reason,
    degraded: draft.degraded,
    historical,
    model: draft.model,
    result: draft.result,
    latencyMs: draft.latencyMs,
    image: draft.image,
  };
}
