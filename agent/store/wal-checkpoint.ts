import type { Logger } from 'pino';
import type { Clock, Service, TimerHandle } from '../service.js';
import type { DecisionStore } from './decision-store.js';

/** WAL checkpoints keep the -wal file from growing without bound between restarts. */
export const CHECKPOINT_PERIOD_MS = 5 * 60_000;

/** Checkpoints the store's WAL every CHECKPOINT_PERIOD_MS (the store checkpoints once more when it closes). */
export class WalCheckpoint implements Service {
  readonly name = 'wal-checkpoint';
  private timer: TimerHandle | undefined;

  constructor(
    private readonly store: DecisionStore,
    private readonly deps: { clock: Clock; log: Logger },
    private readonly periodMs = CHECKPOINT_PERIOD_MS,
  ) {}

  async start(): Promise<void> {
    this.timer = this.deps.clock.setInterval(() => this.checkpoint(), this.periodMs);
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  private checkpoint(): void {
    try {
      this.store.checkpoint();
    } catch (err) {
      this.deps.log.warn({ err }, 'WAL checkpoint failed');
    }
  }
}
