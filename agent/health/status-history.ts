import type { Logger } from 'pino';
import type { EventBus } from '../events.js';
import type { Clock, Service, TimerHandle } from '../service.js';

/** One step of the history: the agent's figures and each camera's, at `t`. */
export interface HistoryPoint {
  t: number;
  agent: {
    backlog: number;
    cpuPercent: number | null;
    memoryUsedBytes: number | null;
    processRssBytes: number;
    diskUsedBytes: number;
    temperatureC: number | null;
  };
  cameras: Record<
    string,
    {
      fps: number;
      /** Trigger to verdict over the decisions of this step; null when there were none. */
      latencyP50Ms: number | null;
      latencyP99Ms: number | null;
      /** Decisions stored during this step, and how many were NG. */
      decisions: number;
      ng: number;
    }
  >;
}

/** The history as `/api/status` carries it: one array per series (compact JSON, what a chart takes). */
export interface StatusHistorySnapshot {
  stepMs: number;
  windowS: number;
  t: number[];
  agent: { [K in keyof HistoryPoint['agent']]: HistoryPoint['agent'][K][] };
  cameras: Record<
    string,
    { [K in keyof HistoryPoint['cameras'][string]]: HistoryPoint['cameras'][string][K][] }
  >;
}

declare module '../events.js' {
  interface AgentEvents {
    /** A history step was sampled (every HISTORY_STEP_MS): the page appends it to its charts. */
    StatusSampled: { point: HistoryPoint };
  }
}

/** A point every 10 s: a chart's worth of detail (120 points) without growing `R/health` much. */
export const HISTORY_STEP_MS = 10_000;
/** What the charts show: the last 20 minutes, enough to see a trend start and a restart's effect. */
export const HISTORY_WINDOW_MS = 20 * 60_000;

/**
 * The last 20 minutes of the status, a point every 10 s, for the page's charts (`history` in
 * `/api/status`). The first point is taken at start, so a chart is never empty; sampling reads the same
 * cheap snapshots `/api/status` does and tells each point on the bus (`StatusSampled`).
 */
export class StatusHistory implements Service {
  readonly name = 'status-history';
  private readonly points: HistoryPoint[] = [];
  private timer: TimerHandle | undefined;
  private readonly capacity = Math.round(HISTORY_WINDOW_MS / HISTORY_STEP_MS);

  constructor(
    private readonly deps: {
      clock: Clock;
      events: EventBus;
      log: Logger;
      /** Takes one point; `since` is the previous point's time (null for the first). */
      sample: (since: number | null) => HistoryPoint;
    },
  ) {}

  async start(): Promise<void> {
    this.take();
    this.timer = this.deps.clock.setInterval(() => this.take(), HISTORY_STEP_MS);
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Samples now (the timer's work; tests call it directly). */
  take(): void {
    let point: HistoryPoint;
    try {
      point = this.deps.sample(this.points.at(-1)?.t ?? null);
    } catch (err) {
      this.deps.log.warn({ err }, 'status history sample failed; the step is left out');
      return;
    }
    this.points.push(point);
    if (this.points.length > this.capacity) this.points.splice(0, this.points.length - this.capacity);
    this.deps.events.emit('StatusSampled', { point });
  }

  snapshot(): StatusHistorySnapshot {
    const agentKeys = [
      'backlog',
      'cpuPercent',
      'memoryUsedBytes',
      'processRssBytes',
      'diskUsedBytes',
      'temperatureC',
    ] as const;
    const cameraKeys = ['fps', 'latencyP50Ms', 'latencyP99Ms', 'decisions', 'ng'] as const;
    const agent = Object.fromEntries(
      agentKeys.map((k) => [k, this.points.map((p) => p.agent[k])]),
    ) as StatusHistorySnapshot['agent'];
    const ids = new Set(this.points.flatMap((p) => Object.keys(p.cameras)));
    const cameras: StatusHistorySnapshot['cameras'] = {};
    for (const id of ids) {
      cameras[id] = Object.fromEntries(
        cameraKeys.map((k) => [k, this.points.map((p) => p.cameras[id]?.[k] ?? null)]),
      ) as StatusHistorySnapshot['cameras'][string];
    }
    return {
      stepMs: HISTORY_STEP_MS,
      windowS: HISTORY_WINDOW_MS / 1000,
      t: this.points.map((p) => p.t),
      agent,
      cameras,
    };
  }
}
