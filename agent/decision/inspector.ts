import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { CameraShot, Frame } from '../capture/index.js';
import type { RulesConfig } from '../config/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { Inference, ModelRef } from '../inference/index.js';
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
  /**
   * `took` is told which model version took the frame, before it runs: an ERROR or a fallback verdict then
   * names the version it was meant for, not `model: null`.
   */
  infer(frame: Frame, signal?: AbortSignal, took?: (model: ModelRef) => void): Promise<Inference>;
  /** The version a frame would go to now (named on ERROR decisions that never reached the model). */
  current?(): ModelRef | null;
}

/**
 * Fitness to judge (drift.gate, docs/drift.md): the one hook drift has into the decision path. Given the
 * model's inference, it says why the frame cannot be judged (blurred, over- or under-exposed, covered), or
 * undefined when it can. The contract is the Inspector's, so it lives here; drift's DriftMonitor provides it.
 */
export interface FrameGate {
  unfit(inference: Inference): string | undefined;
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
  /** When set (drift.gate: true), a frame unfit to judge gets a degraded UNCERTAIN instead of the model's verdict. */
  gate?: FrameGate | undefined;
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
  /** the version the frame went to (or would have gone to) */
  model?: ModelRef;
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
  /**
   * Settles when the previous part's record did: each part is recorded after the one triggered before it, so
   * a camera's seq order is its trigger order even when the model answers out of order (two workers, a
   * camera with its next part already started: docs/capture.md).
   */
  private previousRecord: Promise<void> = Promise.resolve();

  constructor(private readonly deps: InspectorDeps) {
    this.fixed = { model: deps.model, rules: deps.rules, deadlineMs: deps.deadlineMs };
  }

  async inspect(shot: CameraShot): Promise<Decision> {
    // taken before anything awaits: a recipe switched from here on applies to the next part, not this one;
    // the place in the record order too (inspect is called in trigger order)
    const profile = this.deps.profile?.() ?? this.fixed;
    const previous = this.previousRecord;
    let recorded = () => {};
    this.previousRecord = new Promise<void>((resolve) => {
      recorded = resolve;
    });
    try {
      return await this.judgeAndRecord(shot, profile, previous);
    } finally {
      recorded();
    }
  }

  private async judgeAndRecord(
    shot: CameraShot,
    profile: InspectionProfile,
    previous: Promise<void>,
  ): Promise<Decision> {
    const { clock } = this.deps;
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
      // a frame the source could not use (a file that is not an image, truncated, too large): ERROR with
      // the source's reason, its reference kept (a restart does not judge it again), no image, no decoder
      if (frame.problem) {
        throw new AgentError(ErrorCodes.FRAME_DECODE, `frame could not be decoded: ${frame.problem}`);
      }
      seen.frame = frame;
      stage = 'inference';
      this.deps.metrics.frames.inc({ camera: this.deps.cameraId });
      const inference = await profile.model.infer(frame, cancel.signal, (model) => {
        seen.model = model;
      });
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
    // recorded after the part triggered before it (its own verdict and deadline are already settled)
    await previous;
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
    const judged = judge(inference.result, profile.rules, labels);
    const { result } = judged;
    const unfit = this.unfit(inference);
    // a frame the model cannot judge gets no confident verdict: UNCERTAIN, degraded, and why (the model's
    // own verdict stays in the reason and its scores in `result`)
    const outcome = unfit
      ? {
          verdict: 'UNCERTAIN' as const,
          reason: `unfit to judge: ${unfit} (model said ${judged.outcome.verdict}: ${judged.outcome.reason})`,
        }
      : judged.outcome;
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
      degraded: unfit !== undefined,
      model: inference.model,
      result,
      latencyMs: this.latency(startedAt, inference.timings),
      // once per frame (a kept JPEG reuses it for its file name): 0.3-0.5 ms of the event loop for a
      // 1080p JPEG, cheaper than handing the frame to another thread (a postMessage copies it)
      image: { sha256: createHash('sha256').update(frame.data).digest('hex'), stored: false },
    };
  }

  /** The gate's answer; a gate that fails costs nothing but a log line (drift never breaks a verdict). */
  private unfit(inference: Inference): string | undefined {
    if (!this.deps.gate) return undefined;
    try {
      return this.deps.gate.unfit(inference);
    } catch (err) {
      this.deps.log.error({ err }, 'fitness gate failed; the model verdict stands');
      return undefined;
    }
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
      model: this.intended(profile, seen),
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
      model: this.intended(profile, seen),
      result: null,
      latencyMs: this.latency(startedAt),
      image: null,
    };
  }

  /** The model version a part was meant for: the one that took its frame, else the one frames go to now. */
  private intended(profile: InspectionProfile, seen: Seen): ModelRef | null {
    return seen.model ?? profile.model.current?.() ?? null;
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
