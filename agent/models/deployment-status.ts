import type { ModelStatus } from '../inference/index.js';
import type { ModelFileStatus } from './file-watch.js';
import type { Score, VersionScores } from './ground-truth.js';
import type { HealthWatch, WatchStatus } from './health-watch.js';
import { type Lanes, refOf } from './lanes.js';
import type { RolloutBook } from './rollout-book.js';
import type { ShadowStatus } from './shadow-lane.js';
import type { CanaryScope, HistoryEntry, Rejection } from './versions.js';

/** A condition of a model that needs a person, as `/api/status` lists it in `problems[]`. */
export interface ModelProblem {
  code: string;
  severity: 'warning' | 'critical';
  message: string;
}

/** `unloaded`: recipes freed this model while no active recipe uses it (docs/recipes.md). */
export type DeploymentState = ModelStatus['state'] | 'unloaded';

export interface DeploymentStatus extends Omit<ModelStatus, 'state'> {
  state: DeploymentState;
  /** The running version's file on disk: `changed` says why it is not the one loaded (MODEL_FILE_CHANGED). */
  file: ModelFileStatus;
  previousVersion: string | null;
  /** The previous version is kept (rollback one request away) until then; null without a promotion. */
  previousKeptUntil: number | null;
  promotedAt: number | null;
  installed: string[];
  shadow: ShadowStatus | null;
  canary: { version: string | null; scope: CanaryScope; state: string; provider: string | null } | null;
  watchingAfterPromotion: boolean;
  watch: WatchStatus | null;
  rejected: Record<string, Rejection>;
  knownGood: string[];
  /** Plant outcomes per version: as the active version, and as a shadow (on the frames it shadowed). */
  accuracy: { active: Record<string, Score>; shadow: Record<string, Score> } | null;
  history: HistoryEntry[];
  problems: ModelProblem[];
}

const DAY_MS = 86_400_000;

export function statusOf(parts: {
  file: ModelFileStatus;
  base: Omit<ModelStatus, 'state'> & { state: DeploymentState };
  lanes: Lanes;
  book: RolloutBook;
  installed: string[];
  watch: HealthWatch;
  keepPreviousDays: number;
  scores: VersionScores | undefined;
  startFallback: { version: string; reason: string; at: number } | null;
}): DeploymentStatus {
  const { lanes, book, watch } = parts;
  const promotedAt = book.promotedAt;
  const previous = book.previous;
  const canary = lanes.canary;
  return {
    ...parts.base,
    file: parts.file,
    previousVersion: previous,
    previousKeptUntil: promotedAt !== null && previous ? promotedAt + parts.keepPreviousDays * DAY_MS : null,
    promotedAt,
    installed: parts.installed,
    shadow: lanes.shadow?.status() ?? null,
    canary: canary
      ? {
          version: canary.runner.version,
          scope: canary.scope,
          state: canary.runner.state,
          provider: refOf(canary.runner).provider,
        }
      : null,
    watchingAfterPromotion: watch.active,
    watch: watch.status(),
    rejected: book.rejected,
    knownGood: book.knownGood,
    accuracy: parts.scores ? { active: parts.scores.active, shadow: parts.scores.shadow } : null,
    history: book.history(10),
    problems: problemsOf(parts),
  };
}

function problemsOf(parts: Parameters<typeof statusOf>[0]): ModelProblem[] {
  const out: ModelProblem[] = [];
  const f = parts.startFallback;
  if (f) {
    out.push({
      code: 'MODEL_START_FALLBACK',
      severity: 'warning',
      message: `recorded active version ${f.version} did not load at start (${f.reason}); the configured version runs`,
    });
  }
  // the last change was an automatic rollback: until a person promotes a version, say so
  const last = parts.book
    .history(50)
    .filter((h) => h.action !== 'install' && h.action !== 'delete')
    .at(-1);
  if (last?.action === 'auto-rollback') {
    out.push({
      code: 'MODEL_AUTO_ROLLBACK',
      severity: 'critical',
      message: `version ${last.from} was rolled back automatically at ${new Date(last.at).toISOString()} to ${last.version}: ${last.reason ?? ''}`,
    });
  }
  return out;
}
