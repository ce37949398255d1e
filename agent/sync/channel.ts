import type { Decision } from '../decision/index.js';
import type { MqttLink } from './mqtt-link.js';

/**
 * One way decisions reach the plant (`json` topics, a Sparkplug edge node). The outbox keeps a delivery
 * row per channel, and one OutboxPublisher drives each channel, so one channel being down never holds
 * back another.
 */
export interface DeliveryChannel {
  readonly name: string;
  readonly connected: boolean;
  onUp(fn: () => void): void;
  onDown(fn: () => void): void;
  /**
   * Publishes one decision; resolves only when the broker acknowledged it (PUBACK). `stored`: the decision
   * as the store wrote it (JSON, `historical: false`), given for live decisions, so a channel whose format
   * is that JSON sends it without serialising the decision again.
   */
  deliver(decision: Decision, historical: boolean, stored?: string): Promise<void>;
}

/** CONTRACT section 3's JSON format: `R/decisions/<cameraId>`, QoS 1. */
export class JsonChannel implements DeliveryChannel {
  readonly name = 'json';

  constructor(private readonly link: MqttLink) {}

  get connected(): boolean {
    return this.link.connected;
  }

  onUp(fn: () => void): void {
    this.link.onUp(fn);
  }

  onDown(fn: () => void): void {
    this.link.onDown(fn);
  }

  deliver(decision: Decision, historical: boolean, stored?: string): Promise<void> {
    const topic = `${this.link.topicRoot}/decisions/${decision.cameraId}`;
    // the stored payload is this very JSON (same keys, same order) with `historical: false`
    const payload =
      stored !== undefined && !historical ? stored : JSON.stringify({ ...decision, historical });
    return this.link.publish(topic, payload, { qos: 1 });
  }
}
