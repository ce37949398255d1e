import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Decision } from '../decision/index.js';
import type { EventBus } from '../events.js';
import type { Clock, Service, TimerHandle } from '../service.js';

/** What a page is told of a decision: enough to update a tile, not the whole result. */
export interface DecisionSummary {
  cameraId: string;
  id: string;
  seq: number;
  verdict: Decision['verdict'];
  reason: string;
  decidedAt: number;
  partId?: string;
  degraded: boolean;
  hasFrame: boolean;
}

/** Pages held open at once (every technician's tab, the line-side panels); each costs a socket and a write. */
export const MAX_EVENT_CLIENTS = 32;
/** Decisions and changes are sent in one batch per tick: a 30 fps camera costs a page 1 event a second. */
export const PUSH_PERIOD_MS = 1_000;
/** The whole status goes out at least this often, and on the next tick after anything changed. */
export const STATUS_PERIOD_MS = 5_000;
/** A client that has this much unsent is too slow (a stalled phone): it is closed, and reconnects itself. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

interface Client {
  res: ServerResponse;
}

/**
 * The page's live updates (`GET /api/events`, server-sent events): `status` (the `/api/status` body
 * without its history, every STATUS_PERIOD_MS and soon after an alert, link, camera or model change),
 * `decisions` (the newest decision per camera since the last tick), and `sample` (each new history point
 * for the charts). Listeners only note what changed; one timer sends, serialising each event once for all
 * clients. Bounded: MAX_EVENT_CLIENTS clients, and a client that stops reading is closed.
 */
export class LiveEvents implements Service {
  readonly name = 'live-events';
  private readonly clients = new Set<Client>();
  private readonly decisions = new Map<string, DecisionSummary>();
  private statusDirty = true;
  private lastStatusAt = 0;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly deps: {
      clock: Clock;
      events: EventBus;
      log: Logger;
      /** The status body as the page reads it (without the history). */
      status: () => unknown;
    },
  ) {}

  get size(): number {
    return this.clients.size;
  }

  get full(): boolean {
    return this.clients.size >= MAX_EVENT_CLIENTS;
  }

  async start(): Promise<void> {
    const { events } = this.deps;
    const changed = () => {
      this.statusDirty = true;
    };
    events.on(
      'DecisionStored',
      ({ decision: d, evidence }) => {
        if (this.clients.size === 0) return;
        this.decisions.set(d.cameraId, {
          cameraId: d.cameraId,
          id: d.id,
          seq: d.seq,
          verdict: d.verdict,
          reason: d.reason,
          decidedAt: d.decidedAt,
          ...(d.partId !== undefined ? { partId: d.partId } : {}),
          degraded: d.degraded,
          hasFrame: evidence !== undefined,
        });
      },
      this.name,
    );
    events.on('AlertChanged', changed, this.name);
    events.on('LinkStateChanged', changed, this.name);
    events.on('CameraStateChanged', changed, this.name);
    events.on('ModelChanged', changed, this.name);
    events.on('StatusSampled', ({ point }) => this.broadcast('sample', JSON.stringify(point)), this.name);
    this.timer = this.deps.clock.setInterval(() => this.tick(), PUSH_PERIOD_MS);
  }

  async stop(): Promise<void> {
    this.deps.events.removeListeners(this.name);
    if (this.timer !== undefined) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  /** Takes over a response (the route has checked `full`): headers, the current status, then the stream. */
  attach(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // a reverse proxy in front must not buffer the stream
      'x-accel-buffering': 'no',
    });
    const client: Client = { res };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    // EventSource reconnects by itself after a drop: every 3 s, not the browser's default
    this.write(client, 'retry: 3000\n\n');
    this.write(client, frame('status', this.statusText()));
  }

  /** Sends what the last tick gathered (the timer's work; tests call it directly). */
  tick(): void {
    if (this.clients.size === 0) {
      this.decisions.clear();
      return;
    }
    if (this.decisions.size > 0) {
      this.broadcast('decisions', JSON.stringify([...this.decisions.values()]));
      this.decisions.clear();
    }
    const now = this.deps.clock.now();
    if (this.statusDirty || now - this.lastStatusAt >= STATUS_PERIOD_MS)
      this.broadcast('status', this.statusText());
  }

  private statusText(): string {
    this.statusDirty = false;
    this.lastStatusAt = this.deps.clock.now();
    try {
      return JSON.stringify(this.deps.status());
    } catch (err) {
      this.deps.log.warn({ err }, 'status for the page failed');
      return JSON.stringify({ error: 'status unavailable' });
    }
  }

  private broadcast(event: string, data: string): void {
    if (this.clients.size === 0) return;
    const text = frame(event, data);
    for (const c of this.clients) this.write(c, text);
  }

  private write(client: Client, text: string): void {
    const { res } = client;
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      this.deps.log.info('a page stopped reading its live updates; closing its stream');
      this.clients.delete(client);
      res.destroy();
      return;
    }
    try {
      res.write(text);
    } catch (err) {
      this.clients.delete(client);
      this.deps.log.debug({ err }, 'live update write failed');
    }
  }
}

/** One server-sent event; `data` is one line of JSON (JSON.stringify never writes a newline). */
function frame(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}
