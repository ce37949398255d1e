import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import type { EventBus } from './events.js';
import type { Clock } from './service.js';

/** CONTRACT 3, `R/alerts`: a condition going active, and clearing again. */
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

declare module './events.js' {
  interface AgentEvents {
    /** An alert went active or cleared (`alert.active`). */
    AlertChanged: { alert: Alert };
  }
}

/** What a part says when it raises or clears an alert; id and time are the Alerts service's. */
export type AlertInput = Omit<Alert, 'id' | 'ts'>;

/** What every part raises through: the one way in. */
export interface AlertSink {
  raise(alert: AlertInput): void;
}

/**
 * The one place alerts live. A part raises (`active: true`) or clears (`active: false`) a condition by its
 * code and scope (camera, model); only changes are news: each is logged and emitted as `AlertChanged` (the
 * sync side publishes it on `R/alerts`), and the active set is kept for `/api/status` and the page.
 */
export class Alerts implements AlertSink {
  private readonly activeAlerts = new Map<string, Alert>();

  constructor(private readonly deps: { clock: Clock; log: Logger; events: EventBus }) {}

  raise(alert: AlertInput): void {
    const key = keyOf(alert);
    if (alert.active === this.activeAlerts.has(key)) return;
    const full: Alert = { id: uuidv7(), ts: this.deps.clock.now(), ...alert };
    if (alert.active) this.activeAlerts.set(key, full);
    else this.activeAlerts.delete(key);
    const log = alert.severity === 'critical' && alert.active ? this.deps.log.error : this.deps.log.warn;
    log.call(
      this.deps.log,
      { alert: full },
      `alert ${alert.active ? 'raised' : 'cleared'}: ${alert.message}`,
    );
    this.deps.events.emit('AlertChanged', { alert: full });
  }

  /** Clears `code` (for one camera or model when given) if it is active, with `message` saying why. */
  clear(code: string, message: string, scope: { cameraId?: string; modelId?: string } = {}): void {
    const active = this.activeAlerts.get(keyOf({ code, ...scope }));
    if (active) this.raise({ ...withoutIdentity(active), message, active: false });
  }

  active(): Alert[] {
    return [...this.activeAlerts.values()];
  }
}

function keyOf(alert: { code: string; cameraId?: string | undefined; modelId?: string | undefined }): string {
  return `${alert.code}/${alert.cameraId ?? ''}/${alert.modelId ?? ''}`;
}

function withoutIdentity(alert: Alert): AlertInput {
  const { id: _id, ts: _ts, ...rest } = alert;
  return rest;
}
