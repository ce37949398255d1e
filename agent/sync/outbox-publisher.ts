import type { Logger } from 'pino';
import { BACKLOG_RATE_PER_SEC, BACKLOG_SHARE } from '../config/index.js';
import type { Decision } from '../decision/index.js';
import type { EventBus } from '../events.js';
import { LogLimit } from '../log-limit.js';
import type { AgentMetrics } from '../metrics.js';
import { type Clock, type Service, type TimerHandle, waitUntil } from '../service.js';
import type { DecisionStore, OutboxEntry } from '../store/index.js';
import type { DeliveryChannel } from './channel.js';
import { TokenBucket } from './token-bucket.js';

export interface PublisherOptions {
  /** At most this many decisions awaiting PUBACK at once, both lanes together. */
  maxInFlight: number;
  /** While live decisions are in flight or waiting, the backlog holds at most this share of the window. */
  backlogShare?: number;
  /** Backlog decisions sent per second at most; 0 = as fast as the window allows. */
  backlogRatePerSec?: number;
}

/** Acks are written to the store in batches: one fsync per batch instead of one per decision. */
const ACK_FLUSH_MS = 100;
const ACK_FLUSH_BATCH = 256;
/** Acks the store could not write (a full disk) are written again this often, kept meanwhile. */
const ACK_RETRY_MS = 1_000;
/**
 * ...at most this many (8 bytes each): past it the oldest are forgotten, and those decisions are published
 * once more after a restart (consumers dedup by id).
 */
const MAX_PENDING_ACKS = 100_000;
/** Backlog rows read per query: one query per slot would cost more than the publish itself. */
const BACKLOG_PREFETCH = 256;
/**
 * Live decisions handed in (DecisionStored) while the window is full are kept at most this many; past it
 * they are dropped from memory and read back from the store, which holds them anyway (its outbox rows).
 */
const LIVE_QUEUE_MAX = 1_024;

/**
 * Delivers the outbox at least once, in two lanes per connection:
 * - live: decisions stored after this connection came up, published as they are stored (`historical:false`);
 * - backlog: decisions stored before it (an outage, a restart), oldest first (`historical:true`).
 * Both share a bounded in-flight window and live goes first. While live decisions are in flight or waiting,
 * the backlog may hold at most `backlogShare` of the window, so the line's verdicts always find free slots
 * and never queue behind a long backlog; with no live traffic the backlog may use the whole window. The
 * backlog can also be held to `backlogRatePerSec` (a token bucket on the injected clock), so draining a
 * week of history does not saturate a thin plant uplink. A decision is marked sent only on PUBACK; one that
 * fails or times out stays unsent and is sent again (consumers dedup by `id`).
 * The live lane sends the decisions `DecisionStored` hands it (already durable), as they are, with the
 * payload the store wrote: nothing is read back and parsed again. It reads the store only to catch up
 * (a `notify()` without the decision, a failed publish, more waiting than LIVE_QUEUE_MAX); the backlog
 * lane always reads the store.
 */
export class OutboxPublisher implements Service {
  readonly name: string;
  private liveFrom = Number.POSITIVE_INFINITY;
  private liveCursor = 0;
  private backlogCursor = 0;
  /** Backlog rows read ahead, oldest first, not yet sent; `backlogCursor` is past the last of them. */
  private backlogBuf: OutboxEntry[] = [];
  /** The backlog read to its end on this connection (a failed send reopens it). */
  private backlogDone = false;
  /** Live decisions handed in and not sent yet, in seq order (all above `liveCursor`). */
  private live: { decision: Decision; payload?: string | undefined }[] = [];
  /** The live lane reads the store until it has caught up (then `live` holds what is new). */
  private liveFromStore = true;
  private readonly inflight = new Set<number>();
  private liveInflight = 0;
  private readonly bucket: TokenBucket | undefined;
  private rateTimer: TimerHandle | undefined;
  private pendingAcks: number[] = [];
  private readonly pendingSet = new Set<number>();
  /** The last write of acks failed: the next is a timed retry, not one per PUBACK. */
  private ackRetrying = false;
  private flushTimer: TimerHandle | undefined;
  private readonly ackLog = new LogLimit({ windowMs: 60_000 });
  private pumping = false;
  private stopped = false;

  constructor(
    private readonly store: DecisionStore,
    private readonly channel: DeliveryChannel,
    private readonly opts: PublisherOptions,
    private readonly deps: {
      clock: Clock;
      log: Logger;
      metrics: AgentMetrics;
      /** `DecisionStored` wakes the live lane (without a bus, whoever stores calls `notify()`). */
      events?: EventBus;
    },
  ) {
    this.name = `outbox:${channel.name}`;
    const rate = opts.backlogRatePerSec ?? BACKLOG_RATE_PER_SEC;
    if (rate > 0) this.bucket = new TokenBucket(rate, Math.max(1, rate), deps.clock);
  }

  async start(): Promise<void> {
    this.deps.events?.on(
      'DecisionStored',
      ({ decision, payload }) => this.offer(decision, payload),
      this.name,
    );
    this.channel.onUp(() => this.onConnected());
    this.channel.onDown(() => {
      this.liveFrom = Number.POSITIVE_INFINITY;
    });
    if (this.channel.connected) this.onConnected();
  }

  async stop(): Promise<void> {
    this.deps.events?.removeListeners(this.name);
    this.stopped = true;
    if (this.rateTimer !== undefined) this.deps.clock.clearTimeout(this.rateTimer);
    this.rateTimer = undefined;
    // give in-flight publishes a moment to be acknowledged, then persist every ack we have
    await waitUntil(() => this.inflight.size === 0 || !this.channel.connected, 2_000, 20, this.deps.clock);
    this.flushAcks();
  }

  /** A decision was stored (without its details: the live lane reads the store for it). */
  notify(): void {
    this.liveFromStore = true;
    this.pump();
  }

  /** A decision just stored, with its payload as written: the live lane sends it as it is. */
  offer(decision: Decision, payload?: string): void {
    // not connected (liveFrom infinite): it goes with the backlog of the next connection
    if (decision.seq >= this.liveFrom && !this.liveFromStore) {
      if (this.live.length < LIVE_QUEUE_MAX) this.live.push({ decision, payload });
      else this.readLiveFromStore(this.liveCursor);
    }
    this.pump();
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  /** In-flight decisions per lane (the backlog lane's share is what `backlogShare` bounds). */
  get lanes(): { live: number; backlog: number } {
    return { live: this.liveInflight, backlog: this.inflight.size - this.liveInflight };
  }

  private onConnected(): void {
    this.flushAcks();
    this.liveFrom = this.store.lastSeq() + 1;
    this.liveCursor = this.liveFrom - 1;
    this.backlogCursor = 0;
    this.backlogBuf = [];
    this.backlogDone = false;
    // everything stored so far is the backlog; what is stored from now on is handed in (DecisionStored)
    this.live = [];
    this.liveFromStore = false;
    const backlog = this.store.stats().backlog;
    if (backlog > 0) this.deps.log.info({ backlog }, 'sending the backlog, oldest first');
    this.pump();
  }

  private pump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      while (this.channel.connected && Number.isFinite(this.liveFrom)) {
        if (this.inflight.size >= this.opts.maxInFlight) return;
        if (!this.sendLive()) return; // the window is full of live decisions; more may be waiting
        if (this.backlogDone && this.backlogBuf.length === 0) return;
        const backlogRoom = this.backlogCap() - (this.inflight.size - this.liveInflight);
        const allowed = Math.min(backlogRoom, this.opts.maxInFlight - this.inflight.size, this.tokens());
        if (allowed <= 0) return;
        const backlog = this.takeBacklog(allowed);
        for (const entry of backlog) {
          this.bucket?.take();
          this.send(entry.decision, true);
        }
        if (backlog.length === 0) return;
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Sends live decisions, oldest first, while the window has room; false when more are waiting. */
  private sendLive(): boolean {
    while (this.liveFromStore) {
      const room = this.opts.maxInFlight - this.inflight.size;
      if (room <= 0) return false;
      const rows = this.store.unsent(this.channel.name, this.liveCursor, Number.MAX_SAFE_INTEGER, room);
      // rows still in flight or acked (not yet written) are skipped by send(); the next page then
      for (const entry of rows) {
        this.liveCursor = entry.seq;
        this.send(entry.decision, false);
      }
      if (rows.length < room) {
        // caught up with the store: what is stored from now on is handed in
        this.liveFromStore = false;
        this.live = [];
      }
    }
    while (this.inflight.size < this.opts.maxInFlight && this.live.length > 0) {
      const { decision, payload } = this.live.shift() as { decision: Decision; payload?: string };
      if (decision.seq <= this.liveCursor) continue; // already read from the store
      this.liveCursor = decision.seq;
      this.send(decision, false, payload);
    }
    return this.live.length === 0;
  }

  /** The live lane goes back to the store from `afterSeq` (what is handed in meanwhile is read there too). */
  private readLiveFromStore(afterSeq: number): void {
    this.liveCursor = Math.min(this.liveCursor, afterSeq);
    this.liveFromStore = true;
    this.live = [];
  }

  /** Up to `n` backlog entries, oldest first, read from the store `BACKLOG_PREFETCH` at a time. */
  private takeBacklog(n: number): OutboxEntry[] {
    if (this.backlogBuf.length === 0 && !this.backlogDone) {
      this.backlogBuf = this.store.unsent(
        this.channel.name,
        this.backlogCursor,
        this.liveFrom,
        BACKLOG_PREFETCH,
      );
      const last = this.backlogBuf.at(-1);
      if (last) this.backlogCursor = last.seq;
      else this.backlogDone = true;
    }
    return this.backlogBuf.splice(0, n);
  }

  /** Backlog slots: a share of the window while live decisions are in flight, all of it otherwise. */
  private backlogCap(): number {
    if (this.liveInflight === 0) return this.opts.maxInFlight;
    const share = this.opts.backlogShare ?? BACKLOG_SHARE;
    if (share <= 0) return 0;
    // at least one slot, or a steady live stream would starve the backlog for good
    return Math.max(1, Math.floor(this.opts.maxInFlight * share));
  }

  /** Backlog sends the rate limit allows now; when none, a timer pumps again once a token is due. */
  private tokens(): number {
    if (!this.bucket) return Number.POSITIVE_INFINITY;
    const n = this.bucket.available();
    if (n < 1 && this.rateTimer === undefined) {
      this.rateTimer = this.deps.clock.setTimeout(() => {
        this.rateTimer = undefined;
        this.pump();
      }, this.bucket.msUntilNext());
    }
    return n;
  }

  private send(decision: Decision, historical: boolean, payload?: string): void {
    const { seq } = decision;
    if (this.inflight.has(seq) || this.pendingSet.has(seq)) return;
    this.inflight.add(seq);
    if (!historical) this.liveInflight++;
    // out of the window at once, either way: a read of the store before the next pump (another publish
    // settling first) must not skip a failed decision as still in flight
    const settled = () => {
      this.inflight.delete(seq);
      if (!historical) this.liveInflight--;
    };
    this.channel
      .deliver(decision, historical, payload)
      .then(
        () => {
          settled();
          this.pendingAcks.push(seq);
          this.pendingSet.add(seq);
          this.deps.metrics.published.inc({ channel: this.channel.name, historical: String(historical) });
          this.scheduleFlush();
        },
        (err: unknown) => {
          settled();
          this.deps.metrics.publishFailures.inc();
          this.deps.log.warn({ err, seq }, 'publish failed; the decision stays in the outbox');
          // send it again on this connection if it lasts; a new connection starts from the oldest anyway
          if (seq < this.liveFrom) {
            // read again from there; entries still in flight or acked are skipped by send()
            this.backlogCursor = Math.min(this.backlogCursor, seq - 1);
            this.backlogBuf = [];
            this.backlogDone = false;
          } else {
            this.readLiveFromStore(seq - 1);
          }
        },
      )
      .finally(() => this.pump());
  }

  private scheduleFlush(): void {
    if (!this.ackRetrying && this.pendingAcks.length >= ACK_FLUSH_BATCH) {
      this.flushAcks();
      return;
    }
    if (this.flushTimer === undefined) {
      const ms = this.ackRetrying ? ACK_RETRY_MS : ACK_FLUSH_MS;
      this.flushTimer = this.deps.clock.setTimeout(() => this.flushAcks(), ms);
    }
  }

  private flushAcks(): void {
    if (this.flushTimer !== undefined) {
      this.deps.clock.clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.pendingAcks.length === 0) return;
    const acks = this.pendingAcks;
    try {
      this.store.markSent(this.channel.name, acks);
    } catch (err) {
      // the store cannot write now (a full disk: issue 16, failure 4): the acks are kept and written again,
      // so the backlog is marked delivered once space returns instead of being sent again after a restart
      const over = acks.length - MAX_PENDING_ACKS;
      if (over > 0) for (const seq of acks.splice(0, over)) this.pendingSet.delete(seq);
      const line = this.ackLog.take('ack', this.deps.clock.now());
      if (line.write) {
        this.deps.log.error(
          { err, count: acks.length, ...(line.held > 0 ? { suppressed: line.held } : {}) },
          'cannot record acknowledgements yet; kept, and tried again',
        );
      }
      this.ackRetrying = true;
      if (!this.stopped) this.scheduleFlush();
      return;
    }
    this.ackRetrying = false;
    this.pendingAcks = [];
    this.pendingSet.clear();
  }
}
