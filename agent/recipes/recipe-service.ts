import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { AlertSink } from '../alerts.js';
import type { CameraProfile } from '../capture/index.js';
import type { RecipeConfig } from '../config/index.js';
import type { Inferrer, InspectionProfile } from '../decision/index.js';
import { AgentError, agentError, describeError } from '../errors.js';
import type { EventBus } from '../events.js';
import { type Judge, rulesJudge } from '../models/index.js';
import type { Clock, Service, TimerHandle } from '../service.js';
import type { RecipeBook } from './book.js';
import type { RecipeState } from './record.js';

declare module '../events.js' {
  interface AgentEvents {
    /** The active recipe changed (any source: request, PLC register, OPC UA, Sparkplug). */
    RecipeChanged: { recipe: string; number: number; previous: string; changeoverMs: number };
  }
}

/** A model as recipes load, unload and judge with it (models' ModelDeployment). */
export interface RecipeModel {
  readonly state: string;
  readonly labels: readonly string[];
  forCamera(cameraId: string, judge?: Judge): Inferrer;
  start(signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
  load(signal?: AbortSignal): Promise<void>;
  unload(): Promise<void>;
  snapshot(): { error: string | null };
}

/** How one camera judges a part under one recipe: what the inspector and the camera ask for per shot. */
export interface RecipeProfile extends InspectionProfile, CameraProfile {
  readonly recipe: string;
}

export interface SelectResult {
  recipe: string;
  number: number;
  previous: string;
  changed: boolean;
  changeoverMs: number;
}

export interface RecipeStatus {
  active: { id: string; number: number; description: string | null };
  since: number | null;
  /** A changeover asked for and not finished: parts triggered since then wait for it. */
  pending: string | null;
  changeovers: number;
  lastChangeoverMs: number | null;
  lastError: string | null;
  recipes: { id: string; number: number; preload: boolean; models: string[]; ready: boolean }[];
}

/** Changeovers waiting behind the one in progress, at most; more is a client gone wrong. */
const MAX_QUEUED_CHANGEOVERS = 4;
/** After a changeover, models no recipe wants are unloaded once parts started on them have surely ended. */
const SWEEP_GRACE_MS = 2_000;

interface Pending {
  recipe: RecipeConfig;
  profiles: Map<string, RecipeProfile>;
  done: Promise<SelectResult>;
}

/**
 * Which recipe is active, and the switch (docs/recipes.md). Every camera's inspector asks `profile()` once
 * per shot and keeps the answer for the whole part, so a part is judged wholly by one recipe. A select takes
 * effect at once for the parts triggered after it: until its models are ready those parts wait for them
 * (and get the deadline's fallback if that takes too long), so no part triggered after the request is
 * judged by the old recipe. A select whose models cannot be made ready is refused and changes nothing;
 * parts that waited for it are recorded ERROR.
 *
 * Models some recipe uses are loaded by this service, not the lifecycle: those of the active recipe and of
 * recipes marked `preload`; the others are loaded by the changeover that needs them and unloaded after.
 */
export class RecipeService implements Service {
  readonly name = 'recipes';
  private active: RecipeConfig;
  private activeSince: number | null = null;
  private activeProfiles: Map<string, RecipeProfile> | undefined;
  private pending: Pending | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private started = false;
  private stopping = false;
  private sweepTimer: TimerHandle | undefined;
  private changeovers = 0;
  private lastChangeoverMs: number | null = null;
  private lastError: string | null = null;

  constructor(
    private readonly book: RecipeBook,
    private readonly deps: {
      models: ReadonlyMap<string, RecipeModel>;
      record: { read(): RecipeState | undefined; write(state: RecipeState): void };
      clock: Clock;
      log: Logger;
      events?: EventBus;
      alerts?: AlertSink;
    },
  ) {
    this.active = book.configuredInitial;
  }

  get activeRecipe(): RecipeConfig {
    return this.active;
  }

  /** The active recipe's profile of this camera (what status shows, also while a changeover is pending). */
  activeProfile(cameraId: string): RecipeProfile {
    return this.profiles().get(cameraId) as RecipeProfile;
  }

  /** The profile for the next shot of this camera (a pending changeover's). The hot path: one map lookup. */
  profile(cameraId: string): RecipeProfile {
    const profiles = this.pending?.profiles ?? this.profiles();
    return profiles.get(cameraId) as RecipeProfile; // every configured camera has one
  }

  async start(signal: AbortSignal): Promise<void> {
    this.active = this.initial();
    this.activeProfiles = undefined;
    const wanted = this.book.wanted(this.active);
    await Promise.all(
      this.managed().map(([id, model]) => (wanted.has(id) ? model.start(signal) : model.unload())),
    );
    this.activeSince = this.deps.clock.now();
    this.started = true;
    this.deps.log.info({ recipe: this.active.id, number: this.active.number }, 'active recipe');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.sweepTimer !== undefined) this.deps.clock.clearTimeout(this.sweepTimer);
    await this.chain;
    await Promise.all(this.managed().map(([, model]) => model.stop()));
  }

  /**
   * Switches to a recipe (by id, or by the number a PLC writes). Validated at once: an unknown recipe, or
   * a select while starting, stopping or with changeovers piling up, throws and changes nothing. Otherwise
   * the parts triggered from now on belong to it, and the promise says when (or whether) it became active.
   */
  select(ref: string | number): Promise<SelectResult> {
    const recipe = this.book.find(ref);
    if (!this.started || this.stopping) {
      throw agentError(
        'RECIPE_BUSY',
        `recipes cannot be switched while the agent is ${this.stopping ? 'stopping' : 'starting'}`,
      );
    }
    if (this.pending?.recipe.id === recipe.id) return this.pending.done;
    if (!this.pending && recipe.id === this.active.id) {
      return Promise.resolve(this.result(recipe, recipe, false, 0));
    }
    if (this.queued >= MAX_QUEUED_CHANGEOVERS) {
      throw agentError('RECIPE_BUSY', `${this.queued} recipe changeovers are already waiting`);
    }
    this.queued++;
    const done = this.chain.then(() => this.changeover(recipe));
    this.chain = done.catch(() => undefined);
    const pending: Pending = { recipe, done, profiles: this.buildProfiles(recipe, done) };
    this.pending = pending;
    void done
      .catch(() => undefined)
      .finally(() => {
        this.queued--;
        if (this.pending === pending) this.pending = undefined;
      });
    return done;
  }

  snapshot(): RecipeStatus {
    const { models } = this.deps;
    return {
      active: {
        id: this.active.id,
        number: this.active.number,
        description: this.active.description ?? null,
      },
      since: this.activeSince,
      pending: this.pending?.recipe.id ?? null,
      changeovers: this.changeovers,
      lastChangeoverMs: this.lastChangeoverMs,
      lastError: this.lastError,
      recipes: this.book.recipes.map((r) => {
        const needed = [...this.book.modelsOf(r)];
        return {
          id: r.id,
          number: r.number,
          preload: r.preload,
          models: needed,
          ready: needed.every((m) => models.get(m)?.state === 'ready'),
        };
      }),
    };
  }

  private async changeover(recipe: RecipeConfig): Promise<SelectResult> {
    const previous = this.active;
    if (recipe.id === previous.id) return this.result(recipe, previous, false, 0);
    const t0 = performance.now();
    try {
      for (const id of this.book.modelsOf(recipe)) await this.ready(recipe, id);
    } catch (err) {
      this.lastError = describeError(err);
      this.deps.log.warn({ err, recipe: recipe.id, active: previous.id }, 'recipe changeover refused');
      this.deps.alerts?.raise({
        code: 'RECIPE_REFUSED',
        severity: 'warning',
        message: this.lastError,
        active: true,
      });
      this.scheduleSweep(previous);
      throw err;
    }
    // the switch itself: two assignments, between two parts
    this.active = recipe;
    this.activeProfiles = this.buildProfiles(recipe);
    const changeoverMs = Math.round((performance.now() - t0) * 100) / 100;
    this.activeSince = this.deps.clock.now();
    this.changeovers++;
    this.lastChangeoverMs = changeoverMs;
    this.lastError = null;
    this.persist(recipe);
    this.deps.log.warn({ recipe: recipe.id, previous: previous.id, changeoverMs }, 'recipe switched');
    this.deps.alerts?.raise({
      code: 'RECIPE_REFUSED',
      severity: 'warning',
      message: `recipe ${recipe.id} is active`,
      active: false,
    });
    this.deps.events?.emit('RecipeChanged', {
      recipe: recipe.id,
      number: recipe.number,
      previous: previous.id,
      changeoverMs,
    });
    this.scheduleSweep(previous);
    return this.result(recipe, previous, true, changeoverMs);
  }

  /** Makes one model the recipe needs ready: loaded now if recipes had unloaded it; refused otherwise. */
  private async ready(recipe: RecipeConfig, id: string): Promise<void> {
    const model = this.deps.models.get(id);
    if (!model)
      throw agentError('RECIPE_MODEL_UNAVAILABLE', {
        recipe: recipe.id,
        model: id,
        why: 'is not configured',
      });
    if (model.state === 'unloaded') {
      this.deps.log.info({ recipe: recipe.id, model: id }, 'loading a model for a recipe changeover');
      await model.load();
    }
    if (model.state === 'ready') return;
    const error = model.snapshot().error;
    const why = model.state === 'failed' ? `failed to load${error ? `: ${error}` : ''}` : `is ${model.state}`;
    throw agentError('RECIPE_MODEL_UNAVAILABLE', { recipe: recipe.id, model: id, why });
  }

  private persist(recipe: RecipeConfig): void {
    try {
      this.deps.record.write({
        recipe: recipe.id,
        configured: this.book.configuredInitial.id,
        at: this.deps.clock.now(),
      });
    } catch (err) {
      // the switch stands (the line runs the new product); only a restart would fall back
      this.deps.log.error(
        { err, recipe: recipe.id },
        'cannot record the active recipe; a restart would not keep it',
      );
    }
  }

  /** Unloads, once parts on them have ended, the models no active, pending or preloaded recipe wants. */
  private scheduleSweep(previous: RecipeConfig): void {
    if (this.sweepTimer !== undefined) this.deps.clock.clearTimeout(this.sweepTimer);
    const delay = this.book.longestDeadline(previous) + SWEEP_GRACE_MS;
    this.sweepTimer = this.deps.clock.setTimeout(() => {
      this.sweepTimer = undefined;
      if (this.stopping) return;
      const sweep = this.chain.then(() => this.sweep());
      this.chain = sweep.catch((err: unknown) =>
        this.deps.log.error({ err }, 'unloading unused models failed'),
      );
    }, delay);
  }

  private async sweep(): Promise<void> {
    const keep = this.book.wanted(this.active, ...(this.pending ? [this.pending.recipe] : []));
    const unused = this.managed().filter(([id, m]) => !keep.has(id) && m.state !== 'unloaded');
    await Promise.all(unused.map(([, model]) => model.unload()));
  }

  /** The recorded recipe, unless agent.yaml's `activeRecipe` changed since it was recorded. */
  private initial(): RecipeConfig {
    const configured = this.book.configuredInitial;
    let state: RecipeState | undefined;
    try {
      state = this.deps.record.read();
    } catch (err) {
      this.deps.log.error({ err }, 'cannot read the recorded recipe; starting the configured one');
    }
    if (!state) return configured;
    if (state.configured !== configured.id) {
      this.deps.log.warn(
        { recorded: state.recipe, configured: configured.id },
        'agent.yaml names another activeRecipe than when the active recipe was recorded; the configured one wins',
      );
      return configured;
    }
    if (!this.book.has(state.recipe)) {
      this.deps.log.warn(
        { recorded: state.recipe },
        'the recorded recipe is no longer configured; starting the configured one',
      );
      return configured;
    }
    return this.book.find(state.recipe);
  }

  private managed(): [string, RecipeModel][] {
    return [...this.book.managedModels()].flatMap((id) => {
      const model = this.deps.models.get(id);
      return model ? [[id, model] as [string, RecipeModel]] : [];
    });
  }

  private profiles(): Map<string, RecipeProfile> {
    this.activeProfiles ??= this.buildProfiles(this.active);
    return this.activeProfiles;
  }

  /** One profile per camera; with `until`, the model waits for that changeover before it judges. */
  private buildProfiles(recipe: RecipeConfig, until?: Promise<unknown>): Map<string, RecipeProfile> {
    const profiles = new Map<string, RecipeProfile>();
    for (const cameraId of this.book.cameraIds) {
      const { modelId, rules, deadlineMs } = this.book.setting(recipe, cameraId);
      const deployment = this.deps.models.get(modelId) as RecipeModel; // the config checks the reference
      const direct = deployment.forCamera(
        cameraId,
        rulesJudge(rules, () => deployment.labels),
      );
      const model = until ? afterChangeover(direct, until, recipe.id) : direct;
      profiles.set(cameraId, { recipe: recipe.id, modelId, model, rules, deadlineMs });
    }
    return profiles;
  }

  private result(recipe: RecipeConfig, previous: RecipeConfig, changed: boolean, ms: number): SelectResult {
    return { recipe: recipe.id, number: recipe.number, previous: previous.id, changed, changeoverMs: ms };
  }
}

/** A model that judges only once the changeover to its recipe is done; a refused changeover fails the part. */
function afterChangeover(model: Inferrer, changeover: Promise<unknown>, recipe: string): Inferrer {
  return {
    get labels() {
      return model.labels;
    },
    async infer(frame, signal) {
      try {
        await changeover;
      } catch (err) {
        const code = err instanceof AgentError ? err.code : 'EVA_ERR_INTERNAL';
        const why = describeError(err);
        throw new AgentError(code, `recipe ${recipe} was asked for before this part and refused: ${why}`, {
          cause: err,
        });
      }
      return model.infer(frame, signal);
    },
  };
}
