import type { Logger } from 'pino';
import type { DriftReport } from '../drift/index.js';
import type { EventBus } from '../events.js';
import type { Service } from '../service.js';
import type { MqttLink } from './mqtt-link.js';

/** The Sparkplug side of drift: DDATA `Drift/...` metrics on the camera's device (sparkplug/channel.ts). */
export interface DriftSink {
  readonly connected: boolean;
  publishDrift(report: DriftReport): Promise<void>;
}

/**
 * `R/drift/<cameraId>` (QoS 1, retained): every `DriftReported` on the bus. A report that cannot go out now
 * waits, the latest per camera only (a retained topic holds one), until the broker is back; a newer report
 * replaces it. With Sparkplug on, the same report goes out as DDATA metrics while the edge node is born
 * (otherwise the next report carries the news: drift is a state, not a log).
 */
export class DriftPublisher implements Service {
  readonly name = 'drift-publisher';
  private readonly pending = new Map<string, DriftReport>();

  constructor(
    private readonly link: MqttLink,
    private readonly sparkplug: DriftSink | undefined,
    private readonly deps: { events: EventBus; log: Logger },
  ) {}

  async start(): Promise<void> {
    this.deps.events.on('DriftReported', ({ report }) => this.enqueue(report), this.name);
    this.deps.events.on('LinkStateChanged', ({ connected }) => connected && this.flush(), this.name);
  }

  async stop(): Promise<void> {
    this.deps.events.removeListeners(this.name);
  }

  private enqueue(report: DriftReport): void {
    this.pending.set(report.cameraId, report);
    this.flush();
    if (this.sparkplug?.connected) {
      this.sparkplug
        .publishDrift(report)
        .catch((err: unknown) =>
          this.deps.log.warn({ err, camera: report.cameraId }, 'drift DDATA not sent'),
        );
    }
  }

  private flush(): void {
    if (!this.link.connected) return;
    for (const [camera, report] of this.pending) {
      this.pending.delete(camera);
      this.link
        .publish(`${this.link.topicRoot}/drift/${camera}`, JSON.stringify(report), { qos: 1, retain: true })
        .catch((err: unknown) => {
          this.deps.log.warn({ err, camera }, 'drift report not published; will retry on reconnect');
          // unless a newer report is already waiting
          if (!this.pending.has(camera)) this.pending.set(camera, report);
        });
    }
  }
}
