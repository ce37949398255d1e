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
  /** Recipes: where the recipe register's requests go (with `recipe` configured; docs/recipes.md). */
  recipes?: PlcRecipeLink;
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
  /** Finished results waiting for the PLC to take them (the result buffer's depth now)... */
  resultQueue: number;
  /** ...the most there have been since start, and how many fit (`resultBuffer`). */
  resultQueueMax: number;
  resultBuffer: number;
  /** The recipe register pair, when configured. */
  recipe: PlcRecipeStatus | null;
}

/** One Modbus exchange, counted and logged on failure; rejects with an AgentError coded EVA_ERR_PLC_IO. */
export type PlcIo = <T>(kind: 'read' | 'write', op: string, fn: () => Promise<T>) => Promise<T>;

/** The recipes as the PLC reaches them (recipes' RecipeService, through the request log). */
export interface PlcRecipeLink {
  /**
   * The PLC asks for the recipe with this number. Called before the trigger of the same poll is read, and
   * taking effect at once for the parts triggered after it; resolves once the recipe is active, rejects
   * (coded) when it is refused.
   */
  select(number: number): Promise<unknown>;
  /** The active recipe's number: what the echo register shows. */
  activeNumber(): number;
}

export interface PlcRecipeStatus {
  /** The number last read from the recipe register (0: no request); null before the first read. */
  requested: number | null;
  /** The number last written to the echo register. */
  echoed: number | null;
  /** The status register's meaning (RECIPE_STATUS): ready, changing over, refused. */
  status: 'ready' | 'changing' | 'refused';
  lastRefusal: string | null;
}
