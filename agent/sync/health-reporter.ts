import type { Logger } from 'pino';
import { type Clock, type Service, systemClock, type TimerHandle } from '../service.js';
import type { MqttLink } from './mqtt-link.js';

export const HEALTH_PERIOD_MS = 30_000;

/** Publishes the status body on `R/health` (QoS 0, retained) every 30 s and on each reconnect. */
export class HealthReporter implements Service {
  readonly name = 'health-reporter';
  private timer: TimerHandle | undefined;

  constructor(
    private readonly link: MqttLink,
    private readonly snapshot: () => unknown,
    private readonly log: Logger,
    private readonly periodMs = HEALTH_PERIOD_MS,
    private readonly clock: Clock = systemClock,
  ) {}

  async start(): Promise<void> {
    this.link.onUp(() => this.publish());
    this.timer = this.clock.setInterval(() => this.publish(), this.periodMs);
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) this.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  private publish(): void {
    if (!this.link.connected) return;
    let body: string;
    try {
      body = JSON.stringify(this.snapshot());
    } catch (err) {
      this.log.error({ err }, 'cannot build the health report');
      return;
    }
    this.link
      .publish(`${this.link.topicRoot}/health`, body, { qos: 0, retain: true })
      .catch((err: unknown) => this.log.debug({ err }, 'health report not published'));
  }
}
