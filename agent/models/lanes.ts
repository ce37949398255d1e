import { performance } from 'node:perf_hooks';
import type { Frame } from '../capture/index.js';
import { AgentError, ErrorCodes } from '../errors.js';
import type { Inference, ModelRef, ModelRunner } from '../inference/index.js';
import type { FrameSample, Outcome } from './health-watch.js';
import type { Judge } from './judge.js';
import type { ShadowLane } from './shadow-lane.js';
import type { CanaryScope } from './versions.js';

/** A candidate judging a share of the line for real, before it takes all of it. */
export interface Canary {
  runner: ModelRunner;
  scope: CanaryScope;
  /** parts seen, for a share-of-parts canary */
  parts: number;
}

/** What one frame did, as the deployment's watch records it. */
export interface Observation {
  outcome: Outcome;
  sample: FrameSample;
  /** the frame went to the version under watch (the canary, or after a full promotion the active one) */
  canary: boolean;
  runner: ModelRunner;
}

export function refOf(runner: ModelRunner): ModelRef {
  const s = runner.snapshot();
  return { id: s.id, version: s.version ?? '?', sha256: s.sha256 ?? '', provider: s.provider ?? 'none' };
}

/**
 * Which runner judges a frame: the active version, or the canary for the cameras (or the share of parts)
 * it was given; the shadow sees the active version's frames after their result. Each frame takes its
 * runner once, so a swap between two frames never splits one.
 */
export class Lanes {
  active: ModelRunner | undefined;
  shadow: ShadowLane | undefined;
  canary: Canary | undefined;
  /** Recipes freed this model's workers while no active recipe uses it (docs/recipes.md). */
  unloaded = false;

  constructor(private readonly modelId: string) {}

  /** The runner a frame from `cameraId` goes to; `advance` counts a part for a share-of-parts canary. */
  pick(cameraId: string, advance: boolean): { runner: ModelRunner | undefined; canary: boolean } {
    const c = this.canary;
    if (c && c.runner.state === 'ready') {
      if (c.scope.cameras?.includes(cameraId)) return { runner: c.runner, canary: true };
      if (c.scope.share !== undefined && !c.scope.cameras) {
        const n = advance ? ++c.parts : c.parts + 1;
        // every part whose count crosses a multiple of 1/share: an even spread, no randomness to explain
        if (Math.floor(n * c.scope.share) !== Math.floor((n - 1) * c.scope.share)) {
          return { runner: c.runner, canary: true };
        }
      }
    }
    return { runner: this.active, canary: false };
  }

  /** Whether a skipped trigger of `cameraId` counts against the canary (a camera-scoped canary only). */
  skipIsCanary(cameraId: string): boolean {
    return !!this.canary?.scope.cameras?.includes(cameraId);
  }

  async infer(
    frame: Frame,
    opts: {
      signal?: AbortSignal | undefined;
      cameraId: string;
      judge?: Judge | undefined;
      took?: ((model: ModelRef) => void) | undefined;
      observe: (o: Observation) => void;
    },
  ): Promise<Inference> {
    const { signal, cameraId, judge } = opts;
    const { runner, canary } = this.pick(cameraId, true);
    if (!runner) {
      const state = this.unloaded ? 'unloaded (no active recipe uses it)' : 'loading';
      throw new AgentError(ErrorCodes.MODEL_UNAVAILABLE, `model ${this.modelId} is ${state}`);
    }
    opts.took?.(refOf(runner));
    const t0 = performance.now();
    let outcome: Outcome = 'ok';
    const sample: FrameSample = {};
    try {
      const inference = await runner.infer(frame, signal);
      const ms = performance.now() - t0;
      if (signal?.aborted) outcome = 'miss';
      else {
        sample.ms = ms;
        sample.verdict = judge?.(inference).verdict ?? null;
        // past the deadline the line got the fallback verdict, not this result: nothing to compare against
        if (!canary) this.shadow?.offer(cameraId, frame, inference, ms, judge);
      }
      return inference;
    } catch (err) {
      outcome = signal?.aborted ? 'miss' : 'error';
      throw err;
    } finally {
      opts.observe({ outcome, sample, canary, runner });
    }
  }
}
