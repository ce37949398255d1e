import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import type { AgentMetrics } from '../metrics.js';
import type { Clock, Service, TimerHandle } from '../service.js';
import type { Pruner } from './pruner.js';

/** Hourly is plenty for a limit counted in days; each run works in small batches. */
export const RETENTION_PERIOD_MS = 60 * 60_000;
const DAY_MS = 24 * 60 * 60_000;
/** One run deletes at most this many batches, so a first sweep over a year of data never hogs the writer. */
const MAX_BATCHES_PER_RUN = 500;

export interface RetentionTotals {
  decisions: number;
  images: number;
  requests: number;
}

/**
 * Deletes synced decisions older than `store.retentionDays` (with their images, outbox, outcome and
 * override rows), and request-log rows and drift window reports older than that, at start and hourly. An undelivered decision is
 * never deleted, however old (the append-only trigger would refuse it anyway): it waits for the broker.
 */
export class RetentionSweep implements Service {
  readonly name = 'retention';
  readonly deleted: RetentionTotals = { decisions: 0, images: 0, requests: 0 };
  /** Drift window reports deleted (docs/drift.md): counted apart, they are observations, not records. */
  private driftReportsDeleted = 0;
  private lastRunAt: number | null = null;
  private lastError: string | null = null;
  private timer: TimerHandle | undefined;
  private running: Promise<RetentionTotals> | undefined;

  constructor(
    private readonly pruner: Pruner,
    private readonly retentionDays: number,
    private readonly deps: { clock: Clock; log: Logger; metrics: AgentMetrics },
  ) {}

  async start(): Promise<void> {
    await this.run();
    this.schedule();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /**
   * One sweep; returns what it deleted. Never throws: a failure is logged and shown in the snapshot. A
   * sweep already running is joined, not doubled.
   */
  run(): Promise<RetentionTotals> {
    this.running ??= this.sweep().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Each batch is one transaction; between batches the event loop runs (triggers, frames, deadlines), so
   * a big backlog of old synced data never holds a part past its deadline: the sweep just takes longer.
   */
  private async sweep(): Promise<RetentionTotals> {
    const cutoff = this.deps.clock.now() - this.retentionDays * DAY_MS;
    const run: RetentionTotals = { decisions: 0, images: 0, requests: 0 };
    try {
      for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
        const r = this.pruner.dropSyncedDecisions(undefined, cutoff);
        run.decisions += r.decisions;
        run.images += r.images;
        if (r.decisions === 0) break;
        await nextTurn();
      }
      for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
        const n = this.pruner.dropRequests(cutoff);
        run.requests += n;
        if (n === 0) break;
        await nextTurn();
      }
      for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
        const n = this.pruner.dropDriftReports(cutoff);
        this.driftReportsDeleted += n;
        if (n > 0) this.deps.metrics.retentionDeleted.inc({ kind: 'drift_reports' }, n);
        if (n === 0) break;
        await nextTurn();
      }
      this.lastError = null;
    } catch (err) {
      this.lastError = describeError(err);
      this.deps.log.error({ err }, 'retention sweep failed; it runs again in an hour');
    }
    this.lastRunAt = this.deps.clock.now();
    for (const kind of ['decisions', 'images', 'requests'] as const) {
      this.deleted[kind] += run[kind];
      if (run[kind] > 0) this.deps.metrics.retentionDeleted.inc({ kind }, run[kind]);
    }
    if (run.decisions + run.requests > 0) {
      this.deps.log.info(
        { ...run, retentionDays: this.retentionDays },
        'retention sweep deleted old synced data',
      );
    }
    return run;
  }

  snapshot() {
    return {
      days: this.retentionDays,
      lastRunAt: this.lastRunAt,
      deleted: { ...this.deleted },
      driftReportsDeleted: this.driftReportsDeleted,
      lastError: this.lastError,
    };
  }

  private schedule(): void {
    this.timer = this.deps.clock.setTimeout(() => {
      void this.run().then(() => {
        if (this.timer !== undefined) this.schedule();
      });
    }, RETENTION_PERIOD_MS);
  }
}
