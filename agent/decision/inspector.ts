import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { CameraShot, Frame } from '../capture/index.js';
import type { RulesConfig } from '../config/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { Inference } from '../inference/index.js';
import type { AgentMetrics } from '../metrics.js';
import type { Clock } from '../service.js';
import { judge } from './rules.js';
import type { Decision, DecisionDraft, LatencyMs } from './types.js';

/**
 * The model as the Inspector needs it (a ModelDeployment's per-camera view implements it). The contract is
 * the Inspector's, so it lives here.
 */
export interface Inferrer {
  readonly labels: readonly string[];
  infer(frame: Frame, signal?: AbortSignal): Promise<Inference>;
}

/**
 * How one part is judged: the model, the rules, the deadline and the recipe they come from. Taken once per
 * shot, when the shot starts, and kept to its end, so a part is judged wholly by one recipe, never a mix.
 */
export interface InspectionProfile {
  readonly recipe?: string | undefined;
  readonly model: Inferrer;
  readonly rules: RulesConfig;
  readonly deadlineMs: number;
}

export interface InspectorDeps {
  cameraId: string;
  deadlineMs: number;
  rules: RulesConfig;
  model: Inferrer;
  /**
   * Recipes: the profile for the next shot, asked once per shot (a map lookup: the hot path stays cheap).
   * Without it every shot is judged by `model`, `rules` and `deadlineMs` above.
   */
  profile?: () => InspectionProfile;
  /**
   * Stores the decision durably (and queues it for delivery); returns it with its identity. `evidence` is
   * the frame (and model output) when there is one, for the images the store keeps; it is given the time
   * left before `dueAt` for encoding and never delays the verdict past it (docs/storage.md).
   */
  record: (draft: DecisionDraft, evidence?: Evidence) => Decision | Promise<Decision>;
  clock: Clock;
  log: Logger;
  metrics: AgentMetrics;
}

type Stage = 'waiting for a frame' | 'inference';

interface Seen {
  capturedAt: number | null;
  ref?: string | undefined;
  frame?: Frame;
  inference?: Inference;
}

/** What the inspector saw of a part, handed to the store with the draft (agent/store keeps images from it). */
export interface Evidence {
  frame: Frame;
  inference?: Inference;
  dueAt: number;
}

/**
 * Turns one shot into exactly one stored decision, always by the deadline: the model's verdict if it is
 * ready in time, else a fallback UNCERTAIN (`degraded: true`) recorded at the deadline. A failure gives
 * ERROR with its cause. A model result that arrives after the fallback was recorded is logged and counted,
 * never published as a second verdict for the same part.
 */
export class Inspector {
  private readonly fixed: InspectionProfile;

  constructor(private readonly deps: InspectorDeps) {
    this.fixed = { model: deps.model, rules: deps.rules, deadlineMs: deps.deadlineMs };
  }

  async inspect(shot: CameraShot): Promise<Decision> {
    const { clock } = this.deps;
    // taken before anything awaits: a recipe switched from here on applies to the next part, not this one
    const profile = this.deps.profile?.() ?? this.fixed;
    const { deadlineMs } = profile;
    const startedAt = performance.now();
    const cancel = new AbortController();
    let stage: Stage = 'waiting for a frame';
    // what is known of the frame so far: every draft carries it, whichever way the part ends
    const seen: Seen = { capturedAt: null };

    const work = (async (): Promise<DecisionDraft> => {
      let frame: Frame;
      try {
        frame = await shot.frame;
      } catch (err) {
        throw new AgentError(ErrorCodes.CAMERA_SOURCE, `no frame from the camera: ${describeError(err)}`, {
          cause: err,
        });
      }
      seen.capturedAt = frame.capturedAt;
      seen.ref = frame.ref;
      seen.frame = frame;
      stage = 'inference';
      this.deps.metrics.frames.inc({ camera: this.deps.cameraId });
      const inference = await profile.model.infer(frame, cancel.signal);
      seen.inference = inference;
      return this.fromInference(shot, profile, frame, inference, startedAt);
    })().catch((err: unknown) => this.errorDraft(shot, profile, seen, err, startedAt));

    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = clock.setTimeout(
        () => resolve('deadline'),
        Math.max(0, shot.triggeredAt + deadlineMs - clock.now()),
      );
    });
    const winner = await Promise.race([work, deadline]);
    if (timer !== undefined) clock.clearTimeout(timer);

    let draft: DecisionDraft;
    if (winner === 'deadline') {
      cancel.abort();
      this.deps.metrics.deadlineMisses.inc({ camera: this.deps.cameraId });
      const reason = `no verdict within ${deadlineMs} ms (${stage})`;
      draft = this.fallbackDraft(shot, profile, seen, reason, startedAt);
      void work.then((late) => {
        this.deps.metrics.lateResults.inc({ camera: this.deps.cameraId });
        this.deps.log.warn(
          {
            partId: shot.partId,
            lateVerdict: late.verdict,
            lateReason: late.reason,
            totalMs: late.latencyMs.total,
          },
          'model result arrived after the deadline; the fallback verdict stands',
        );
      });
    } else {
      draft = winner;
    }
    // a fallback keeps the frame (if one came) but not a model output that arrived after the deadline
    const evidence: Evidence | undefined = seen.frame
      ? {
          frame: seen.frame,
          ...(winner !== 'deadline' && seen.inference ? { inference: seen.inference } : {}),
          dueAt: shot.triggeredAt + deadlineMs,
        }
      : undefined;
    const decision = await this.deps.record(draft, evidence);
    this.deps.metrics.decisions.inc({ camera: this.deps.cameraId, verdict: decision.verdict });
    this.deps.metrics.decisionLatency.observe(
      { camera: this.deps.cameraId },
      (draft.decidedAt - shot.triggeredAt) / 1000,
    );
    return decision;
  }

  private fromInference(
    shot: CameraShot,
    profile: InspectionProfile,
    frame: Frame,
    inference: Inference,
    startedAt: number,
  ): DecisionDraft {
    // the rules for the model's task (rules.ts); an anomaly result carries the threshold actually applied
    // with the labels of the version that produced it (a frame started just before a promotion)
    const labels = inference.labels ?? profile.model.labels;
    const { outcome, result } = judge(inference.result, profile.rules, labels);
    this.deps.metrics.inferenceTime.observe(
      { model: inference.model.id, provider: inference.model.provider },
      inference.timings.inference / 1000,
    );
    this.deps.metrics.preprocessTime.observe(
      { model: inference.model.id },
      inference.timings.preprocess / 1000,
    );
    return {
      ...this.base(shot, profile, { capturedAt: frame.capturedAt, ref: frame.ref }),
      verdict: outcome.verdict,
      reason: outcome.reason,
      degraded: false,
      model: inference.model,
      result,
      latencyMs: this.latency(startedAt, inference.timings),
      image: { sha256: createHash('sha256').update(frame.data).digest('hex'), stored: false },
    };
  }

  private errorDraft(
    shot: CameraShot,
    profile: InspectionProfile,
    seen: Seen,
    err: unknown,
    startedAt: number,
  ): DecisionDraft {
    this.deps.log.warn({ err, partId: shot.partId }, 'inspection failed; recording ERROR');
    return {
      ...this.base(shot, profile, seen),
      verdict: 'ERROR',
      reason: describeError(err),
      degraded: false,
      model: null,
      result: null,
      latencyMs: this.latency(startedAt),
      image: null,
    };
  }

  private fallbackDraft(
    shot: CameraShot,
    profile: InspectionProfile,
    seen: Seen,
    reason: string,
    startedAt: number,
  ): DecisionDraft {
    return {
      ...this.base(shot, profile, seen),
      verdict: 'UNCERTAIN',
      reason,
      degraded: true,
      model: null,
      result: null,
      latencyMs: this.latency(startedAt),
      image: null,
    };
  }

  private base(shot: CameraShot, profile: InspectionProfile, seen: Seen) {
    return {
      cameraId: this.deps.cameraId,
      ...(shot.partId !== undefined ? { partId: shot.partId } : {}),
      ...(profile.recipe !== undefined ? { recipe: profile.recipe } : {}),
      triggeredAt: shot.triggeredAt,
      capturedAt: seen.capturedAt,
      decidedAt: this.deps.clock.now(),
      ...(seen.ref ? { sourceRef: seen.ref } : {}),
    };
  }

  private latency(startedAt: number, t?: Inference['timings']): LatencyMs {
    const r = (v: number) => Math.round(v * 100) / 100;
    return {
      queue: r(t?.queue ?? 0),
      preprocess: r(t?.preprocess ?? 0),
      inference: r(t?.inference ?? 0),
      total: r(performance.now() - startedAt),
    };
  }
}
