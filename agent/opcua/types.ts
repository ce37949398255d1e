import type { CameraStatus } from '../capture/index.js';
import type { Decision } from '../decision/index.js';
import type { RequestVia } from '../store/index.js';
import type { RequestArgs, RequestName } from '../sync/index.js';

/** What the OPC UA server reads and commands; each part through its own small surface. */
export interface OpcUaParts {
  cameras: ReadonlyMap<string, { snapshot(): CameraStatus; readonly lastCaptureOk: boolean | null }>;
  /** The active recipe, when recipes are configured. */
  recipe?: (() => { id: string; number: number }) | undefined;
  /** Every configured recipe. */
  recipes?: (() => { id: string; number: number; description?: string | undefined }[]) | undefined;
  /** Runs a request through the router, audited as `opcua` (sync's PlantRequests). */
  requests: { run<N extends RequestName>(name: N, args: RequestArgs<N>, via: RequestVia): Promise<unknown> };
  /** A stored decision by id (GetResultById). */
  decision: (id: string) => Decision | undefined;
}

export interface OpcUaStatus {
  enabled: boolean;
  /** Listening and serving. */
  running: boolean;
  endpoint: string | null;
  securityModes: string[];
  /** ResultReady events raised since start. */
  events: number;
  lastError: string | null;
}
