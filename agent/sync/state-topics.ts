import type { Logger } from 'pino';
import type { CameraStatus } from '../capture/index.js';
import type { Verdict } from '../decision/index.js';
import type { EventBus } from '../events.js';
import type { Clock, Service, TimerHandle } from '../service.js';
import type { MqttLink } from './mqtt-link.js';

/**
 * State is compared this often, and at most this often per camera published: counts and the last verdict
 * change with every part, and an HMI binding needs a live picture, not 30 retained writes a second.
 * Connection, enabled, model and recipe changes are published at once (their events trigger a check).
 */
export const STATE_CHECK_MS = 1_000;
/** A final state on a clean stop gets this long, so shutdown never waits on a broker. */
const STOP_PUBLISH_MS = 2_000;

/** `R/cameras/<cameraId>/state` (CONTRACT section 3), retained. */
export interface CameraStatePayload {
  /** Stream cameras: the watchdog's state; others: `good` once a capture worked, `down` when the last failed. */
  connection: 'starting' | 'good' | 'degraded' | 'down' | 'stopped';
  enabled: boolean;
  /** The camera's state (running, waiting-for-model, disabled, stopped). */
  state: string;
  model: string;
  recipe?: string;
  lastVerdict: Verdict | null;
  lastDecision: { id: string; seq: number; partId?: string; decidedAt: number } | null;
  /** Decisions by verdict since `countsSince` (the agent's start). */
  counts: Record<Verdict, number>;
  countsSince: number;
  ts: number;
}

interface Tally {
  counts: Record<Verdict, number>;
  last: CameraStatePayload['lastDecision'];
  lastVerdict: Verdict | null;
}

/**
 * The retained state the plant binds to (Node-RED flows, HMIs): one `R/cameras/<id>/state` per camera,
 * published on change, and the active recipe in `R/status` (the link's status detail, refreshed when the
 * recipe changes). Each camera's state is read from its own `snapshot()` plus the decisions seen on the bus.
 */
export class StateTopics implements Service {
  readonly name = 'state-topics';
  private readonly tallies = new Map<string, Tally>();
  private readonly published = new Map<string, string>();
  private timer: TimerHandle | undefined;
  private startedAt = 0;

  constructor(
    private readonly link: MqttLink,
    private readonly cameras: ReadonlyMap<
      string,
      { snapshot(): CameraStatus; readonly lastCaptureOk: boolean | null }
    >,
    private readonly deps: {
      events: EventBus;
      clock: Clock;
      log: Logger;
      /** The active recipe, when recipes are configured: it goes into `R/status` too. */
      recipe?: () => { id: string; number: number };
    },
  ) {}

  async start(): Promise<void> {
    const { events, clock } = this.deps;
    this.startedAt = clock.now();
    events.on('DecisionStored', ({ decision: d }) => this.count(d), this.name);
    events.on('CameraStateChanged', () => this.check(), this.name);
    events.on('ModelChanged', () => this.check(), this.name);
    events.on(
      'RecipeChanged',
      () => {
        this.echoRecipe();
        this.check();
      },
      this.name,
    );
    this.echoRecipe();
    // a broker restarted without persistence has lost our retained states: publish them all again
    this.link.onUp(() => {
      this.published.clear();
      this.check();
    });
    this.timer = clock.setInterval(() => this.check(), STATE_CHECK_MS);
    this.check();
  }

  /** A last state (the cameras stopped before this), so an HMI does not show a stopped line as running. */
  async stop(): Promise<void> {
    this.deps.events.removeListeners(this.name);
    if (this.timer !== undefined) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
    await this.send(STOP_PUBLISH_MS);
  }

  private echoRecipe(): void {
    const recipe = this.deps.recipe?.();
    if (recipe) this.link.setStatusDetail({ recipe: recipe.id, recipeNumber: recipe.number });
  }

  /** The state each camera would be published with now. */
  states(): Map<string, CameraStatePayload> {
    const out = new Map<string, CameraStatePayload>();
    for (const [id, camera] of this.cameras)
      out.set(id, this.stateOf(camera.snapshot(), camera.lastCaptureOk));
    return out;
  }

  private check(): void {
    void this.send();
  }

  /** Publishes every camera whose state changed since it was last published (QoS 1, retained). */
  private async send(timeoutMs?: number): Promise<void> {
    if (!this.link.connected) return;
    const sends: Promise<void>[] = [];
    for (const [id, state] of this.states()) {
      const { ts: _ts, ...compared } = state;
      const key = JSON.stringify(compared);
      if (this.published.get(id) === key) continue;
      this.published.set(id, key);
      const topic = `${this.link.topicRoot}/cameras/${id}/state`;
      const send = this.link.publish(topic, JSON.stringify(state), { qos: 1, retain: true }, timeoutMs);
      sends.push(
        send.catch((err: unknown) => {
          // not published: compare against nothing, so the next check sends it again
          if (this.published.get(id) === key) this.published.delete(id);
          this.deps.log.debug({ err, camera: id }, 'camera state not published; retried at the next check');
        }),
      );
    }
    await Promise.all(sends);
  }

  private count(d: {
    cameraId: string;
    id: string;
    seq: number;
    partId?: string;
    verdict: Verdict;
    decidedAt: number;
  }): void {
    const tally = this.tallyOf(d.cameraId);
    tally.counts[d.verdict]++;
    tally.lastVerdict = d.verdict;
    tally.last = {
      id: d.id,
      seq: d.seq,
      ...(d.partId !== undefined ? { partId: d.partId } : {}),
      decidedAt: d.decidedAt,
    };
  }

  private tallyOf(cameraId: string): Tally {
    let tally = this.tallies.get(cameraId);
    if (!tally) {
      tally = { counts: { OK: 0, NG: 0, UNCERTAIN: 0, ERROR: 0 }, last: null, lastVerdict: null };
      this.tallies.set(cameraId, tally);
    }
    return tally;
  }

  private stateOf(c: CameraStatus, captureOk: boolean | null): CameraStatePayload {
    const tally = this.tallyOf(c.id);
    return {
      connection: connectionOf(c, captureOk),
      enabled: c.enabled,
      state: c.state,
      model: c.model,
      ...(c.recipe !== undefined ? { recipe: c.recipe } : {}),
      lastVerdict: tally.lastVerdict,
      lastDecision: tally.last,
      counts: { ...tally.counts },
      countsSince: this.startedAt,
      ts: this.deps.clock.now(),
    };
  }
}

function connectionOf(c: CameraStatus, captureOk: boolean | null): CameraStatePayload['connection'] {
  if (c.state === 'stopped') return 'stopped';
  if (c.connection) return c.connection.state;
  if (captureOk === null) return 'starting';
  return captureOk ? 'good' : 'down';
}
