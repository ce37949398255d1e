import type { Logger } from 'pino';
import type { OpcUaConfig } from '../config/index.js';
import type { Decision } from '../decision/index.js';
import { describeError } from '../errors.js';
import type { EventBus } from '../events.js';
import { type Clock, type Service, type TimerHandle, withTimeout } from '../service.js';
import type { OpcUaParts, OpcUaStatus } from './types.js';
import type { VisionServer } from './vision-server.js';

/** The vision state machines follow their cameras at least this often (events move them sooner). */
const REFRESH_MS = 1_000;
/** A server that does not close in this long is left behind: shutdown never waits on a client. */
const SHUTDOWN_MS = 3_000;
/** ResultReady events waiting to be raised, at most; a flood beyond it is dropped and counted. */
const MAX_QUEUED_EVENTS = 1_000;

/**
 * The OPC 40100 Machine Vision server (docs/opcua.md), started by the lifecycle only when `opcua.enabled`.
 * node-opcua is imported here, in `start()`, and nowhere else: an agent without OPC UA never loads it.
 * Listens on the bus: each `DecisionStored` becomes a ResultReadyEvent on its camera's VisionSystem, raised
 * off the emitter's turn (the store's), so the decision path pays a queue push and nothing more.
 */
export class OpcUaService implements Service {
  readonly name = 'opcua';
  private server: VisionServer | undefined;
  private timer: TimerHandle | undefined;
  private queue: Decision[] = [];
  private flushing = false;
  private raised = 0;
  private dropped = 0;
  private lastError: string | null = null;

  constructor(
    private readonly config: OpcUaConfig,
    private readonly parts: OpcUaParts,
    private readonly deps: { pkiDir: string; agentId: string; events: EventBus; clock: Clock; log: Logger },
  ) {}

  snapshot(): OpcUaStatus {
    return {
      enabled: true,
      running: this.server !== undefined,
      endpoint: this.server?.endpoint ?? null,
      securityModes: [...this.config.securityModes],
      events: this.raised,
      lastError: this.lastError,
    };
  }

  async start(): Promise<void> {
    const { events, clock, log } = this.deps;
    // node-opcua warns on the console while it loads (before its logger can be set): quiet until then
    const quiet = process.env.NODEOPCUA_LOG_LEVEL === undefined;
    if (quiet) process.env.NODEOPCUA_LOG_LEVEL = '3';
    let loaded: typeof import('./vision-server.js');
    try {
      loaded = await import('./vision-server.js');
    } finally {
      if (quiet) delete process.env.NODEOPCUA_LOG_LEVEL;
    }
    try {
      this.server = await loaded.startVisionServer(this.config, { ...this.deps, parts: this.parts, log });
    } catch (err) {
      this.lastError = describeError(err);
      throw err;
    }
    events.on('DecisionStored', ({ decision }) => this.enqueue(decision), this.name);
    events.on('CameraStateChanged', () => this.refresh(), this.name);
    events.on('ModelChanged', () => this.refresh(), this.name);
    events.on('RecipeChanged', () => this.recipeChanged(), this.name);
    this.timer = clock.setInterval(() => this.refresh(), REFRESH_MS);
  }

  async stop(): Promise<void> {
    this.deps.events.removeListeners(this.name);
    if (this.timer !== undefined) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    this.refresh(server); // Halted: the cameras stopped before this
    await withTimeout(
      server.shutdown(),
      SHUTDOWN_MS,
      () => new Error('OPC UA server shutdown timed out'),
    ).catch((err: unknown) => this.deps.log.warn({ err }, 'OPC UA server did not shut down cleanly'));
  }

  private enqueue(decision: Decision): void {
    if (this.queue.length >= MAX_QUEUED_EVENTS) {
      if (this.dropped++ === 0)
        this.deps.log.warn('OPC UA ResultReady events are piling up; dropping the oldest');
      this.queue.shift();
    }
    this.queue.push(decision);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = false;
    const batch = this.queue;
    this.queue = [];
    for (const d of batch) {
      try {
        this.server?.systems.get(d.cameraId)?.resultReadyFor(d);
        this.raised++;
      } catch (err) {
        this.lastError = describeError(err);
        this.deps.log.error({ err, decisionId: d.id }, 'ResultReady event not raised');
      }
    }
  }

  private refresh(server = this.server): void {
    if (!server) return;
    for (const [id, system] of server.systems) {
      const camera = this.parts.cameras.get(id);
      if (camera) system.refresh(camera.snapshot(), camera.lastCaptureOk);
    }
  }

  private recipeChanged(): void {
    for (const system of this.server?.systems.values() ?? []) system.recipeChanged();
  }
}
