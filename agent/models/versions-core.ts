import type { Logger } from 'pino';
import type { AlertSink } from '../alerts.js';
import type { ModelConfig } from '../config/index.js';
import { AgentError, ErrorCodes } from '../errors.js';
import type { EventBus } from '../events.js';
import type { ModelRunner, ProviderFallback, WorkerFaults } from '../inference/index.js';
import type { Clock } from '../service.js';
import type { GateResult } from './gates.js';
import type { VersionScores } from './ground-truth.js';
import type { HealthWatch } from './health-watch.js';
import { Lanes } from './lanes.js';
import type { DeploymentMetrics } from './metrics.js';
import { RolloutBook } from './rollout-book.js';
import type { ShadowReport, ShadowStore } from './shadow.js';
import type { UploadedHashes } from './version-loader.js';
import { retire, VersionLoader } from './version-loader.js';
import { type HistoryEntry, VersionStore, type WatchRecord } from './versions.js';

/** Who asked for a change, and whether they override a refusal (`force: true`, audited). */
export interface ChangeOptions {
  force?: boolean | undefined;
  /** mqtt, http (the token holder), inbox, internal */
  via?: string | undefined;
  /** An upload's files as they were hashed while received: the version is held to them. */
  files?: UploadedHashes | undefined;
}

export interface ChangesDeps {
  log: Logger;
  clock: Clock;
  versionsDir: string;
  shadowStore?: ShadowStore | undefined;
  metrics?: DeploymentMetrics | undefined;
  alerts?: AlertSink | undefined;
  events?: EventBus | undefined;
  faults?: ((modelPath: string) => WorkerFaults | undefined) | undefined;
  watch: HealthWatch;
  publishActive: () => void;
  scores: () => VersionScores | undefined;
  onProviderFallback: (e: ProviderFallback) => void;
}

export type Why = 'promote' | 'rollback' | 'auto-rollback';

const _DAY_MS = 86_400_000;

export function deployError(message: string): AgentError {
  return new AgentError(ErrorCodes.MODEL_DEPLOY, message);
}

/**
 * What every change to a model's versions works with: the lanes (active, shadow, canary), the installed
 * versions and their loader, the rollout record; starting (the recorded version, else the configured one
 * with an alert), loading a candidate, the swap itself, and one change at a time. VersionChanges adds the
 * changes a request asks for.
 */
export class VersionsCore {
  readonly lanes: Lanes;
  readonly versions: VersionStore;
  readonly loader: VersionLoader;
  book: RolloutBook;
  /** The recorded active version did not load at start: the configured one runs instead. */
  startFallback: { version: string; reason: string; at: number } | null = null;
  protected busy: Promise<unknown> = Promise.resolve();
  protected stopped = false;
  protected configured: string | null | undefined;

  constructor(
    protected readonly config: ModelConfig,
    protected readonly deps: ChangesDeps,
  ) {
    this.lanes = new Lanes(config.id);
    this.versions = new VersionStore(deps.versionsDir);
    this.loader = new VersionLoader(config, {
      log: deps.log,
      clock: deps.clock,
      versions: this.versions,
      onProviderFallback: deps.onProviderFallback,
      faults: deps.faults,
    });
    this.book = new RolloutBook(this.versions, deps.log, '', deps.clock.now());
  }

  /** agent.yaml's model version (read once: it hashes the file). */
  get configuredVersion(): string | null {
    if (this.configured === undefined) this.configured = this.loader.configuredVersion();
    return this.configured;
  }

  protected exists = (version: string) =>
    version === this.configuredVersion || this.versions.modelPath(version) !== undefined;

  async start(signal?: AbortSignal): Promise<void> {
    const configured = this.configuredVersion;
    const { clock } = this.deps;
    this.book = new RolloutBook(this.versions, this.deps.log, configured ?? '', clock.now());
    const rec = this.book.load(configured);
    if (rec && rec.active !== configured) {
      const runner = this.loader.runnerFor(rec.active);
      let reason = `version ${rec.active} is not installed in ${this.versions.dir}`;
      if (runner) {
        await runner.start(signal);
        if (signal?.aborted) return void (await runner.stop());
        if (runner.state === 'ready') {
          this.lanes.active = runner;
          this.resumeWatch(rec.watch);
          this.deps.publishActive();
          return;
        }
        reason = runner.snapshot().error ?? 'did not load';
        await runner.stop();
      }
      this.fallBackAtStart(rec.active, reason);
    }
    const runner = this.loader.configured();
    await runner.start(signal);
    this.lanes.active = runner;
    if (rec && rec.active === configured) this.resumeWatch(rec.watch);
    this.deps.publishActive();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // an install or promote under way finishes first (serial() takes no more), so no runner it starts is
    // left with live workers after this
    await this.busy;
    this.lanes.shadow?.close();
    const { active, shadow, canary } = this.lanes;
    await Promise.all([active?.stop(), shadow?.runner.stop(), canary?.runner.stop()]);
  }

  /** The watch after a promotion, as saved before a restart: resumed for what is left of its window. */
  protected resumeWatch(watch: WatchRecord | null): void {
    if (!watch) return;
    const active = this.lanes.active?.version;
    if (watch.canary || watch.version !== active || !this.deps.watch.restore(watch, this.deps.clock.now())) {
      // a canary ends with the process (its candidate stays installed); a window that ran out is done
      if (!watch.canary && watch.version === active) this.book.markKnownGood(watch.version);
      this.book.setWatch(null);
      this.save();
      return;
    }
    this.deps.log.warn(
      { version: watch.version, until: watch.until },
      'resuming the watch after the last promotion (restarted inside its window)',
    );
  }

  protected fallBackAtStart(version: string, reason: string): void {
    const { clock, log } = this.deps;
    const configured = this.configuredVersion ?? '?';
    const at = clock.now();
    log.error({ version, reason }, 'recorded active version does not load; starting the configured version');
    this.startFallback = { version, reason, at };
    this.book.reject(version, { at, reason: `did not load at start: ${reason}` });
    this.book.note({ at, action: 'start-fallback', version: configured, from: version, reason });
    this.book.setActive(configured, this.book.rollbackTarget(configured, this.exists), at, {
      promotedAt: null,
      watch: null,
    });
    this.save();
    this.deps.alerts?.raise({
      code: 'MODEL_START_FALLBACK',
      severity: 'warning',
      modelId: this.config.id,
      message: `model ${this.config.id}: recorded active version ${version} does not load (${reason}); running the configured version ${configured}`,
      active: true,
    });
  }

  protected async candidate(version: string): Promise<ModelRunner> {
    const { lanes } = this;
    if (lanes.shadow?.version === version && lanes.shadow.runner.state === 'ready') {
      const runner = lanes.shadow.runner;
      lanes.shadow.close();
      lanes.shadow = undefined;
      return runner;
    }
    const fresh = this.loader.runnerFor(version);
    if (!fresh) {
      const installed = [this.configuredVersion, ...this.versions.installed()].filter(Boolean).join(', ');
      throw deployError(
        `model ${this.config.id}: version ${version} is not installed (installed: ${installed})`,
      );
    }
    await fresh.start();
    if (fresh.state !== 'ready') {
      const reason = fresh.snapshot().error;
      await fresh.stop();
      throw deployError(`model ${this.config.id}: version ${version} does not load: ${reason}`);
    }
    return fresh;
  }

  /** The swap itself: one assignment, between two frames; then the record, the watch, and the old runner retired. */
  protected async swap(
    candidate: ModelRunner,
    why: Why,
    opts: ChangeOptions & { reason?: string },
    evidence: { report?: ShadowReport | null; gates?: GateResult[]; forced?: string[] },
  ): Promise<Record<string, unknown>> {
    const { lanes, book } = this;
    const { watch, clock } = this.deps;
    const now = clock.now();
    const version = candidate.version ?? '?';
    const old = lanes.active;
    const oldVersion = old?.version ?? null;
    const fromCanary = lanes.canary?.runner === candidate;
    if (fromCanary) lanes.canary = undefined;
    const oldWatched = watch.active && watch.version === oldVersion;
    lanes.active = candidate;
    let watchRecord: WatchRecord | null = null;
    if (why === 'promote') {
      if (oldVersion && !oldWatched) book.markKnownGood(oldVersion);
      const accuracy = oldVersion ? this.deps.scores()?.active[oldVersion] : undefined;
      const baseline = watch.promoted(now, {
        version,
        accuracy: { accuracy: accuracy?.accuracy ?? null, outcomes: accuracy?.outcomes ?? 0 },
      });
      if (watch.active) {
        watchRecord = {
          version,
          since: now,
          until: now + this.config.autoRollback.windowMs,
          baseline,
          over: oldVersion,
        };
      }
    } else {
      watch.cancel();
    }
    const previous =
      why === 'auto-rollback'
        ? book.rollbackTarget(version, this.exists, oldVersion ? [oldVersion] : [])
        : oldVersion;
    book.setActive(version, previous, now, {
      promotedAt: why === 'promote' ? now : book.promotedAt,
      watch: watchRecord,
    });
    const { report = null, gates = [], forced = [] } = evidence;
    this.note({
      action: why,
      version,
      from: oldVersion,
      via: opts.via,
      ...(forced.length ? { forced } : {}),
      ...(opts.reason ? { reason: opts.reason } : {}),
      evidence: { shadow: report, gates },
    });
    try {
      book.save();
      this.deps.log.warn({ version, previous, why, via: opts.via, forced }, 'model version switched');
      this.deps.publishActive();
      this.deps.metrics?.swaps.inc({ model: this.config.id, why });
      if (why === 'promote') {
        // a promotion by hand answers the alerts of an earlier automatic rollback or start-up fallback
        for (const code of ['MODEL_AUTO_ROLLBACK', 'MODEL_START_FALLBACK']) {
          this.deps.alerts?.raise({
            code,
            severity: code === 'MODEL_AUTO_ROLLBACK' ? 'critical' : 'warning',
            modelId: this.config.id,
            message: `model ${this.config.id}: version ${version} promoted by hand`,
            active: false,
          });
        }
        this.startFallback = null;
      }
    } finally {
      // the swap has happened even if recording it failed (disk full): the old version's workers still end
      await retire(old);
    }
    const scores = this.deps.scores();
    return {
      model: this.config.id,
      version,
      previous,
      provider: candidate.snapshot().provider,
      ...(report ? { shadow: report } : {}),
      ...(gates.length ? { gates } : {}),
      ...(forced.length ? { forced } : {}),
      ...(scores
        ? {
            accuracy: {
              [version]: scores.active[version] ?? null,
              ...(oldVersion ? { [oldVersion]: scores.active[oldVersion] ?? null } : {}),
            },
          }
        : {}),
    };
  }

  protected async endCanary(): Promise<string | null> {
    const c = this.lanes.canary;
    if (!c) return null;
    this.lanes.canary = undefined;
    this.deps.watch.cancel();
    this.book.setWatch(null);
    await retire(c.runner);
    return c.runner.version;
  }

  protected note(entry: Omit<HistoryEntry, 'at'>): void {
    this.book.note({ at: this.deps.clock.now(), ...entry });
  }

  /** Writes the record; a failed write (a full disk) is logged: the change itself has happened. */
  protected save(): void {
    try {
      this.book.save();
    } catch (err) {
      this.deps.log.error({ err }, 'the rollout record (active.json) could not be written');
    }
  }

  /** Install, promote, rollback and delete one at a time per model. */
  protected serial<T>(work: () => Promise<T>): Promise<T> {
    // refused once stopping, also when queued before stop() and reached after it
    const run = () =>
      this.stopped ? Promise.reject(deployError(`model ${this.config.id}: the agent is stopping`)) : work();
    const next = this.busy.then(run, run);
    this.busy = next.catch(() => undefined);
    return next;
  }
}
