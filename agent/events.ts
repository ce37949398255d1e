import type { Logger } from 'pino';
import type { Alert } from './alerts.js';
import type { Decision } from './decision/index.js';

/**
 * Everything that happens after the fact, by name: the one map from event to payload. What happens *after*
 * a decision is stored (publishing, Sparkplug, counters, drift, the page) listens here; the deadline path
 * itself (camera -> inspector -> store) stays direct awaited calls and never waits on a listener.
 *
 * Payloads are plain data owned by this file or by the producer's own types, so emitting never makes a
 * folder import its listeners.
 */
export interface AgentEvents {
  /** A decision is durable in the store (its outbox rows too): publishers may send it now. */
  DecisionStored: { decision: Decision };
  /** An alert went active or cleared (`alert.active`). */
  AlertChanged: { alert: Alert };
  /** The broker connection of the JSON link came up or went down. */
  LinkStateChanged: { connected: boolean };
  /** A stream camera's connection changed (watchdog: good / degraded / down / starting). */
  CameraStateChanged: { cameraId: string; connection: string; reason: string };
  /** A model's active version or state changed (loaded, failed, promoted, rolled back). */
  ModelChanged: { modelId: string; version: string | null; state: string };
}

export type EventName = keyof AgentEvents;
type Callback<E extends EventName> = (payload: AgentEvents[E]) => void;

interface Registration {
  event: EventName;
  owner: string;
  callback: (payload: unknown) => void;
}

/**
 * A typed, synchronous event bus (after zigbee2mqtt's `lib/eventBus.ts`). Each listener is registered with
 * its owner and removed with `removeListeners(owner)` when the owner stops; a listener that throws is logged
 * with its owner's name and never reaches the emitter or the listeners after it.
 *
 * Listeners run synchronously, in registration order, on the emitter's turn: they must be cheap (notify a
 * publisher, bump a counter) and hand anything slow to their own queue.
 */
export class EventBus {
  private readonly listeners = new Map<EventName, Registration[]>();

  constructor(private readonly log: Logger) {}

  on<E extends EventName>(event: E, callback: Callback<E>, owner: string): void {
    const list = this.listeners.get(event) ?? [];
    list.push({ event, owner, callback: callback as (payload: unknown) => void });
    this.listeners.set(event, list);
  }

  removeListeners(owner: string): void {
    for (const [event, list] of this.listeners) {
      this.listeners.set(
        event,
        list.filter((r) => r.owner !== owner),
      );
    }
  }

  emit<E extends EventName>(event: E, payload: AgentEvents[E]): void {
    // a copy: a listener that removes listeners (its owner stopping) does not disturb this round
    for (const r of [...(this.listeners.get(event) ?? [])]) {
      try {
        r.callback(payload);
      } catch (err) {
        this.log.error({ err, event, owner: r.owner }, `listener of ${event} failed`);
      }
    }
  }

  /** How many listeners `owner` has (all owners when omitted); for status and tests. */
  listenerCount(owner?: string): number {
    let n = 0;
    for (const list of this.listeners.values()) {
      n += owner === undefined ? list.length : list.filter((r) => r.owner === owner).length;
    }
    return n;
  }
}
