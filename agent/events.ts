import type { Logger } from 'pino';

/**
 * Everything that happens after the fact, by name: the one map from event to payload. What happens *after*
 * a decision is stored (publishing, Sparkplug, counters, drift, the page) listens here; the deadline path
 * itself (camera -> inspector -> store) stays direct awaited calls and never waits on a listener.
 *
 * Each event is declared by its producer, beside the payload's own types, by adding to this interface
 * (`declare module '../events.js' { interface AgentEvents { ... } }`): the kernel imports no folder, so
 * emitting never makes a cycle. The events and where each is declared:
 * - `DecisionStored` `{ decision, evidence?, imageStats? }`: a decision is durable in the store, outbox rows
 *   too; the frame it judged comes by reference, read-only, with its image statistics (store/storage.ts);
 * - `OutcomeRecorded` `{ decisionId, cameraId, verdict, actual, receivedAt }`: the plant's finding for a
 *   decision, a new one (store/audit-log.ts);
 * - `DriftReported` `{ report }`: a camera's drift window report (drift/monitor.ts);
 * - `AlertChanged` `{ alert }`: an alert went active or cleared (alerts.ts);
 * - `LinkStateChanged` `{ connected }`: the JSON link's broker session came up or went down (sync/mqtt-link.ts);
 * - `CameraStateChanged` `{ cameraId, connection, reason }`: a stream camera's watchdog state
 *   (capture/connection-report.ts);
 * - `ModelChanged` `{ modelId, version, state }`: a model's active version or state (models/deployment.ts);
 * - `StatusSampled` `{ point }`: a step of the status history for the page's charts (health/status-history.ts).
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by each producer's declaration (see above)
export interface AgentEvents {}

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
