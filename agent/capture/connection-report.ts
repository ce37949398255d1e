import type { AlertSink } from '../alerts.js';
import type { EventBus } from '../events.js';
import type { ConnectionState } from './frame.js';

declare module '../events.js' {
  interface AgentEvents {
    /** A stream camera's connection changed (watchdog: starting / good / degraded / down). */
    CameraStateChanged: { cameraId: string; connection: ConnectionState; reason: string };
  }
}

/**
 * What a stream camera's watchdog says about its connection, passed on: `CameraStateChanged` on the bus,
 * and `CAMERA_DOWN` raised (critical) while it is down, cleared when it is back.
 */
export function connectionReporter(
  cameraId: string,
  deps: { alerts: AlertSink; events: EventBus },
): (state: ConnectionState, reason: string) => void {
  return (state, reason) => {
    deps.events.emit('CameraStateChanged', { cameraId, connection: state, reason });
    if (state === 'starting') return;
    deps.alerts.raise({
      code: 'CAMERA_DOWN',
      severity: 'critical',
      cameraId,
      active: state === 'down',
      message:
        state === 'down' ? `camera ${cameraId} is down: ${reason}` : `camera ${cameraId} is back (${state})`,
    });
  };
}
