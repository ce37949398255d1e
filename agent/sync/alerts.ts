import type { Logger } from 'pino';
import type { Alert } from '../alerts.js';
import type { EventBus } from '../events.js';
import type { AgentMetrics } from '../metrics.js';
import type { Service } from '../service.js';
import type { MqttLink } from './mqtt-link.js';

/** Alerts raised while the broker is away wait here; beyond this many the oldest are dropped (counted). */
const MAX_PENDING = 200;

/**
 * `R/alerts` (QoS 1): every `AlertChanged` on the bus, published as it happens. Alerts raised while
 * disconnected are published, with their original `ts`, once the broker is back.
 */
export class AlertPublisher implements Service {
  readonly name = 'alert-publisher';
  private pending: Alert[] = [];

  constructor(
    private readonly link: MqttLink,
    private readonly deps: { events: EventBus; log: Logger; metrics: AgentMetrics },
  ) {}

  async start(): Promise<void> {
    this.deps.events.on('AlertChanged', ({ alert }) => this.enqueue(alert), this.name);
    this.deps.events.on('LinkStateChanged', ({ connected }) => connected && this.flush(), this.name);
  }

  async stop(): Promise<void> {
    this.deps.events.removeListeners(this.name);
  }

  private enqueue(alert: Alert): void {
    this.pending.push(alert);
    if (this.pending.length > MAX_PENDING) {
      this.pending.shift();
      this.deps.metrics.drops.inc({ kind: 'alert' });
    }
    this.flush();
  }

  private flush(): void {
    if (!this.link.connected) return;
    const batch = this.pending;
    this.pending = [];
    for (const alert of batch) {
      this.link
        .publish(`${this.link.topicRoot}/alerts`, JSON.stringify(alert), { qos: 1 })
        .catch((err: unknown) => {
          this.deps.log.warn({ err, code: alert.code }, 'alert not published; will retry on reconnect');
          this.pending.unshift(alert);
        });
    }
  }
}
