import type { Logger } from 'pino';
import type { Clock } from '../service.js';
import type { VerdictLike } from './registers.js';

export interface PlcTrigger {
  partId?: string;
  acquisitionId: number;
  triggeredAt: number;
}

export interface PlcDeps {
  clock: Clock;
  log: Logger;
  /** Captures and judges one part; expected to resolve (with a degraded fallback) by the camera's deadline. */
  onTrigger: (t: PlcTrigger) => Promise<VerdictLike>;
}

export interface PlcStatus {
  connected: boolean;
  lastError: string | null;
  triggers: number;
  lastAcquisitionId: number | null;
  readErrors: number;
  writeErrors: number;
  /** Reconnect attempts after a lost or refused connection. */
  reconnects: number;
  /** Triggers refused because maxInFlight parts were already waiting: acked, never captured, no result. */
  overruns: number;
  /** Results never posted: lost with the connection, or their write failed. The PLC rejects those parts. */
  dropped: number;
  /** Parts triggered whose result is not posted yet. */
  inFlight: number;
}

/** One Modbus exchange, counted and logged on failure; rejects with an AgentError coded EVA_ERR_PLC_IO. */
export type PlcIo = <T>(kind: 'read' | 'write', op: string, fn: () => Promise<T>) => Promise<T>;
