import type { Logger } from 'pino';
import type { Decision } from '../decision/index.js';
import type { AgentMetrics } from '../metrics.js';
import type { Clock, Service, TimerHandle } from '../service.js';
import type { DecisionStore } from '../store/index.js';
import type { DeliveryChannel } from './channel.js';

/** Acks are written to the store in batches: one fsync per batch instead of one per decision. */
const ACK_FLUSH_MS = 100;
const ACK_FLUSH_BATCH = 256;

/**
 * Delivers the outbox at least once, in two lanes per connection:
 * - live: decisions stored after this connection came up, published as they are stored (`historical:false`);
 * - backlog: decisions stored before it (an outage, a restart), oldest first (`historical:true`).
 * Both share a bounded in-flight window and live goes first, so a long backlog never delays the line's
 * verdicts by more than one window. A decision is marked sent only on PUBACK; one that fails or times out
 * stays unsent and is sent again (consumers dedup by `id`).
 */
export class OutboxPublisher implements Service {
  readonly name: string;
  private liveFrom = Number.POSITIVE_INFINITY;
  private liveCursor = 0;
  private backlogCursor = 0;
  private readonly inflight = new Set<number>();
  private pendingAcks: number[] = [];
  private flushTimer: TimerHandle | undefined;
  private pumping = false;
  private stopped = false;

  constructor(
    private readonly store: DecisionStore,
    private readonly channel: DeliveryChannel,
    private readonly opts: { maxInFlight: number },
    private readonly deps: { clock: Clock; log: Logger; metrics: AgentMetrics },
  ) {
    this.name = `outbox:${channel.name}`;
  }

  async start(): Promise<void> {
    this.channel.onUp(() => this.onConnected());
    this.channel.onDown(() => {
      this.liveFrom = Number.POSITIVE_INFINITY;
    });
    if (this.channel.connected) this.onConnected();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // give in-flight publishes a moment to be acknowledged, then persist every ack we have
    const until = this.deps.clock.now() + 2_000;
    while (this.inflight.size > 0 && this.channel.connected && this.deps.clock.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.flushAcks();
  }

  /** Called after each decision is stored. */
  notify(): void {
    this.pump();
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  private onConnected(): void {
    this.flushAcks();
    this.liveFrom = this.store.lastSeq() + 1;
    this.liveCursor = this.liveFrom - 1;
    this.backlogCursor = 0;
    const backlog = this.store.stats().backlog;
    if (backlog > 0) this.deps.log.info({ backlog }, 'sending the backlog, oldest first');
    this.pump();
  }

  private pump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      while (this.channel.connected && Number.isFinite(this.liveFrom)) {
        const room = this.opts.maxInFlight - this.inflight.size;
        if (room <= 0) return;
        const live = this.store.unsent(this.channel.name, this.liveCursor, Number.MAX_SAFE_INTEGER, room);
        for (const entry of live) {
          this.liveCursor = entry.seq;
          this.send(entry.decision, false);
        }
        if (live.length > 0) continue;
        const backlog = this.store.unsent(this.channel.name, this.backlogCursor, this.liveFrom, room);
        for (const entry of backlog) {
          this.backlogCursor = entry.seq;
          this.send(entry.decision, true);
        }
        if (backlog.length === 0) return;
      }
    } finally {
      this.pumping = false;
    }
  }

  private send(decision: Decision, historical: boolean): void {
    const { seq } = decision;
    if (this.inflight.has(seq) || this.pendingAcks.includes(seq)) return;
    this.inflight.add(seq);
    this.channel
      .deliver(decision, historical)
      .then(
        () => {
          this.pendingAcks.push(seq);
          this.deps.metrics.published.inc({ channel: this.channel.name, historical: String(historical) });
          this.scheduleFlush();
        },
        (err: unknown) => {
          this.deps.metrics.publishFailures.inc();
          this.deps.log.warn({ err, seq }, 'publish failed; the decision stays in the outbox');
          // send it again on this connection if it lasts; a new connection starts from the oldest anyway
          if (seq < this.liveFrom) this.backlogCursor = Math.min(this.backlogCursor, seq - 1);
          else this.liveCursor = Math.min(this.liveCursor, seq - 1);
        },
      )
      .finally(() => {
        this.inflight.delete(seq);
        this.pump();
      });
  }

  private scheduleFlush(): void {
    if (this.pendingAcks.length >= ACK_FLUSH_BATCH) {
      this.flushAcks();
      return;
    }
    if (this.flushTimer === undefined) {
      this.flushTimer = this.deps.clock.setTimeout(() => this.flushAcks(), ACK_FLUSH_MS);
    }
  }

  private flushAcks(): void {
    if (this.flushTimer !== undefined) {
      this.deps.clock.clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.pendingAcks.length === 0) return;
    const acks = this.pendingAcks;
    this.pendingAcks = [];
    try {
      this.store.markSent(this.channel.name, acks);
    } catch (err) {
      // not fatal: those decisions are published once more after a restart, and consumers dedup by id
      this.deps.log.error({ err, count: acks.length }, 'cannot record acknowledgements');
    }
  }
}
