import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import type { AgentMetrics } from '../metrics.js';
import type { Clock, Service } from '../service.js';
import type { MqttLink } from './mqtt-link.js';

export interface Alert {
  id: string;
  ts: number;
  severity: 'warning' | 'critical';
  code: string;
  cameraId?: string;
  modelId?: string;
  message: string;
  active: boolean;
}

/** Alerts raised while the broker is away wait here; beyond this many the oldest are dropped (counted). */
const MAX_PENDING = 200;

/**
 * `R/alerts` (QoS 1): a condition going active and clearing again, e.g. a camera down and back. Alerts
 * raised while disconnected are published, with their original `ts`, once the broker is back. The set of
 * currently active alerts is kept for `/api/status`.
 */
export class AlertPublisher implements Service {
  readonly name = 'alerts';
  private pending: Alert[] = [];
  private readonly activeAlerts = new Map<string, Alert>();

  constructor(
    private readonly link: MqttLink,
    private readonly deps: { clock: Clock; log: Logger; metrics: AgentMetrics },
  ) {}

  async start(): Promise<void> {
    this.link.onUp(() => this.flush());
  }

  async stop(): Promise<void> {}

  /** Raises (`active: true`) or clears (`active: false`) the condition `code` for a camera (or the agent). */
  raise(alert: Omit<Alert, 'id' | 'ts'>): void {
    const key = `${alert.code}/${alert.cameraId ?? ''}/${alert.modelId ?? ''}`;
    const wasActive = this.activeAlerts.has(key);
    if (alert.active === wasActive) return; // only changes are news
    const full: Alert = { id: uuidv7(), ts: this.deps.clock.now(), ...alert };
    if (alert.active) this.activeAlerts.set(key, full);
    else this.activeAlerts.delete(key);
    const log = alert.severity === 'critical' && alert.active ? this.deps.log.error : this.deps.log.warn;
    log.call(
      this.deps.log,
      { alert: full },
      `alert ${alert.active ? 'raised' : 'cleared'}: ${alert.message}`,
    );
    this.pending.push(full);
    if (this.pending.length > MAX_PENDING) {
      this.pending.shift();
      this.deps.metrics.drops.inc({ kind: 'alert' });
    }
    this.flush();
  }

  active(): Alert[] {
    return [...this.activeAlerts.values()];
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
