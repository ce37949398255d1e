import { AgentError, ErrorCodes } from '../errors.js';
import { evaluateGates, type GateResult } from './gates.js';
import type { ShadowReport } from './shadow.js';
import { ShadowLane } from './shadow-lane.js';
import { retire } from './version-loader.js';
import { type CanaryScope, VersionStore } from './versions.js';
import { type ChangeOptions, deployError, VersionsCore, type Why } from './versions-core.js';

export type { ChangeOptions } from './versions-core.js';

const DAY_MS = 86_400_000;

/**
 * The changes to one model's versions, one at a time: install into shadow, promote (gated; optionally as a
 * canary), rollback (by hand, or automatic on the watch's verdict, to the last known-good version, the bad
 * one marked rejected) and delete. Every change is written to the rollout record (active.json) with who
 * asked and on what evidence.
 */
export class VersionChanges extends VersionsCore {
  install(
    sourceDir: string,
    opts: ChangeOptions = {},
  ): Promise<{ model: string; version: string; sha256: string; provider: string | null }> {
    return this.serial(async () => {
      const active = this.lanes.active;
      const { version, runner } = await this.loader.install(
        sourceDir,
        { id: active?.manifest?.manifest.id ?? this.config.id, version: active?.version ?? null },
        { requireSha256: this.config.requireSha256, requireGolden: this.config.requireGolden },
        opts.files,
      );
      const replaced = this.lanes.shadow;
      replaced?.close();
      this.lanes.shadow = new ShadowLane(runner, {
        model: this.config.id,
        clock: this.deps.clock,
        store: this.deps.shadowStore,
        metrics: this.deps.metrics,
        events: this.deps.events,
        budget: this.config.shadowBudget,
      });
      await retire(replaced?.runner);
      const s = runner.snapshot();
      const golden = runner.manifest?.goldenPaths.length ?? 0;
      this.deps.log.info({ version, provider: s.provider }, 'model version installed; running in shadow');
      this.note({ action: 'install', version, via: opts.via, evidence: { sha256: s.sha256, golden } });
      this.save();
      return { model: this.config.id, version, sha256: s.sha256 ?? '', provider: s.provider };
    });
  }

  promote(
    version: string,
    why: Why,
    opts: ChangeOptions & { canary?: CanaryScope | undefined } = {},
  ): Promise<Record<string, unknown>> {
    return this.serial(() => this.promoteNow(version, why, opts));
  }

  rollback(opts: ChangeOptions = {}): Promise<Record<string, unknown>> {
    return this.serial(async () => {
      const active = this.lanes.active?.version ?? null;
      if (this.lanes.canary) {
        const ended = await this.endCanary();
        this.note({ action: 'rollback', version: active ?? '?', from: ended, via: opts.via });
        this.save();
        return { model: this.config.id, version: active, canaryEnded: ended };
      }
      const target = this.book.rollbackTarget(active, this.exists);
      if (!target) {
        const p = this.book.previous;
        const why =
          p && this.book.rejection(p)
            ? ` (version ${p} was rejected: ${this.book.rejection(p)?.reason})`
            : '';
        throw deployError(`model ${this.config.id}: no previous version to roll back to${why}`);
      }
      return this.promoteNow(target, 'rollback', opts);
    });
  }

  /** The watch's verdict: the version under watch is rejected and the line goes back to a known-good one. */
  autoRollback(reason: string): Promise<void> {
    return this.serial(async () => {
      const { clock, log, alerts } = this.deps;
      const canary = this.lanes.canary?.runner.version ?? null;
      const bad = canary ?? this.lanes.active?.version ?? '?';
      this.book.reject(bad, { at: clock.now(), reason });
      const target = canary
        ? (this.lanes.active?.version ?? null)
        : this.book.rollbackTarget(bad, this.exists);
      log.error({ version: bad, target, reason }, 'automatic rollback');
      alerts?.raise({
        code: 'MODEL_AUTO_ROLLBACK',
        severity: 'critical',
        modelId: this.config.id,
        message: target
          ? `model ${this.config.id}: version ${bad} rolled back to ${target}: ${reason}`
          : `model ${this.config.id}: version ${bad} should be rolled back (${reason}) but no known-good version is installed; it keeps judging`,
        active: true,
      });
      if (canary) {
        await this.endCanary();
        this.note({ action: 'auto-rollback', version: target ?? '?', from: bad, via: 'watch', reason });
        this.save();
        return;
      }
      if (!target) {
        this.note({
          action: 'auto-rollback',
          version: bad,
          from: bad,
          via: 'watch',
          reason: `${reason}; no target`,
        });
        this.save();
        return;
      }
      await this.promoteNow(target, 'auto-rollback', { via: 'watch', reason });
    });
  }

  /** The watch window of `version` ran out without a verdict against it: it is known good now. */
  watchEnded(version: string): void {
    this.book.markKnownGood(version);
    this.book.setWatch(null);
    this.save();
  }

  delete(version: string, opts: ChangeOptions = {}): Promise<Record<string, unknown>> {
    return this.serial(async () => {
      const id = this.config.id;
      const refuse = (why: string) => deployError(`model ${id}: version ${version} not deleted: ${why}`);
      if (version === this.lanes.active?.version) throw refuse('it is the active version');
      if (version === this.lanes.shadow?.version) {
        throw refuse('it runs in shadow (install another version to replace it, or promote it)');
      }
      if (version === this.lanes.canary?.runner.version)
        throw refuse('it runs as a canary (roll back first)');
      if (version === this.configuredVersion) {
        throw refuse(`it is agent.yaml's model file (${this.config.path}); change agent.yaml instead`);
      }
      VersionStore.checkVersion(version);
      if (!this.versions.modelPath(version)) {
        throw refuse(`it is not installed (installed: ${this.versions.installed().join(', ') || 'none'})`);
      }
      const keptUntil = this.keptUntil();
      if (
        version === this.book.previous &&
        keptUntil !== null &&
        this.deps.clock.now() < keptUntil &&
        !opts.force
      ) {
        throw refuse(
          `it is the fallback kept until ${new Date(keptUntil).toISOString()} (keepPreviousDays ${this.config.keepPreviousDays}); force: true deletes it now`,
        );
      }
      this.versions.remove(version);
      this.book.forget(version);
      this.note({
        action: 'delete',
        version,
        via: opts.via,
        ...(opts.force ? { forced: ['kept-fallback'] } : {}),
      });
      this.save();
      this.deps.log.warn({ version, via: opts.via }, 'model version deleted');
      return { model: id, version, deleted: true, installed: this.versions.installed() };
    });
  }

  /** Until when the previous version is kept (rollback one request away); null without a promotion. */
  keptUntil(): number | null {
    const at = this.book.promotedAt;
    return at === null || !this.book.previous ? null : at + this.config.keepPreviousDays * DAY_MS;
  }

  /**
   * Recipes (docs/recipes.md): frees the workers while no active recipe uses this model; parts on it finish
   * first. A shadow or canary under way ends with it (the rollout record stays: `load()` resumes from it).
   */
  unload(): Promise<void> {
    return this.serial(async () => {
      const { active, shadow, canary } = this.lanes;
      [this.lanes.active, this.lanes.shadow, this.lanes.canary] = [undefined, undefined, undefined];
      this.lanes.unloaded = true;
      shadow?.close();
      await Promise.all([retire(active), retire(shadow?.runner), retire(canary?.runner)]);
    });
  }

  /** Recipes: loads the model again after `unload()`, as at start (the recorded active version). */
  load(signal?: AbortSignal): Promise<void> {
    return this.serial(async () => {
      if (!this.lanes.unloaded) return;
      this.lanes.unloaded = false;
      await this.start(signal);
    });
  }

  private async promoteNow(
    version: string,
    why: Why,
    opts: ChangeOptions & { canary?: CanaryScope | undefined; reason?: string },
  ): Promise<Record<string, unknown>> {
    const { lanes } = this;
    const id = this.config.id;
    if (lanes.unloaded) {
      throw deployError(
        `model ${id} is unloaded (no active recipe uses it): select a recipe that does first`,
      );
    }
    const activeVersion = lanes.active?.version ?? null;
    const unchanged = `active version ${activeVersion} unchanged`;
    if (lanes.canary) {
      const c = lanes.canary.runner.version;
      if (why === 'promote' && c === version && !opts.canary)
        return this.swap(lanes.canary.runner, why, opts, {});
      if (why === 'promote') {
        throw deployError(
          `model ${id}: version ${c} runs as a canary; promote ${c} or roll back first; ${unchanged}`,
        );
      }
      await this.endCanary();
    }
    if (activeVersion === version) throw deployError(`model ${id}: version ${version} is already active`);
    const rejection = this.book.rejection(version);
    if (rejection && !opts.force) {
      throw deployError(
        `model ${id}: version ${version} was rejected at ${new Date(rejection.at).toISOString()} (${rejection.reason}); it is not loaded again without force: true; ${unchanged}`,
      );
    }
    let report: ShadowReport | null = null;
    let gates: GateResult[] = [];
    const forced: string[] = rejection ? ['rejected'] : [];
    if (why === 'promote') {
      report = lanes.shadow?.version === version ? lanes.shadow.status() : null;
      const scores = this.deps.scores();
      gates = evaluateGates(this.config.promotion, report, {
        candidate: scores?.shadow[version],
        active: scores?.activeOnShadowed[version],
      });
      const failed = gates.filter((g) => !g.passed);
      if (failed.length > 0 && !opts.force) {
        const list = failed.map((g) => `${g.gate} gate failed (${g.detail})`).join('; ');
        throw new AgentError(
          ErrorCodes.MODEL_GATE,
          `model ${id}: version ${version} not promoted: ${list}; promote with force: true to override; ${unchanged}`,
        );
      }
      forced.push(...failed.map((g) => g.gate));
    }
    const candidate = await this.candidate(version);
    if (rejection) this.book.unreject(version);
    if (opts.canary) {
      const now = this.deps.clock.now();
      lanes.canary = { runner: candidate, scope: opts.canary, parts: 0 };
      const baseline = this.deps.watch.promoted(now, { version, canary: opts.canary });
      const until = now + this.config.autoRollback.windowMs;
      this.book.setWatch({ version, since: now, until, baseline, over: activeVersion, canary: opts.canary });
      this.note({
        action: 'canary',
        version,
        from: activeVersion,
        via: opts.via,
        forced,
        evidence: { shadow: report, gates },
      });
      this.save();
      this.deps.log.warn(
        { version, canary: opts.canary, via: opts.via },
        'model version judging as a canary',
      );
      return {
        model: id,
        version,
        active: activeVersion,
        canary: opts.canary,
        gates,
        ...(forced.length ? { forced } : {}),
        ...(report ? { shadow: report } : {}),
      };
    }
    return this.swap(candidate, why, opts, { report, gates, forced });
  }

  /** The version's runner: the shadow's (already loaded and verified), else loaded and verified now. */
}
