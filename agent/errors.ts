/**
 * Every error the agent raises on purpose has a stable code, so logs, alerts and API responses can be
 * matched by machines. Throw `new AgentError(code, message, { cause })`; never throw strings.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'EVA_ERR_CONFIG_INVALID',
  CONFIG_READ: 'EVA_ERR_CONFIG_READ',
  MODEL_LOAD: 'EVA_ERR_MODEL_LOAD',
  MODEL_MANIFEST: 'EVA_ERR_MODEL_MANIFEST',
  MODEL_GOLDEN: 'EVA_ERR_MODEL_GOLDEN',
  MODEL_UNAVAILABLE: 'EVA_ERR_MODEL_UNAVAILABLE',
  MODEL_REJECTED: 'EVA_ERR_MODEL_REJECTED',
  MODEL_DEPLOY: 'EVA_ERR_MODEL_DEPLOY',
  INFERENCE_FAILED: 'EVA_ERR_INFERENCE_FAILED',
  WORKER_DIED: 'EVA_ERR_WORKER_DIED',
  FRAME_DECODE: 'EVA_ERR_FRAME_DECODE',
  CAMERA_TIMEOUT: 'EVA_ERR_CAMERA_TIMEOUT',
  CAMERA_SOURCE: 'EVA_ERR_CAMERA_SOURCE',
  STORE_OPEN: 'EVA_ERR_STORE_OPEN',
  STORE_WRITE: 'EVA_ERR_STORE_WRITE',
  STORE_FULL: 'EVA_ERR_STORE_FULL',
  MQTT_PUBLISH_TIMEOUT: 'EVA_ERR_MQTT_PUBLISH_TIMEOUT',
  MQTT_CONNECT: 'EVA_ERR_MQTT_CONNECT',
  REQUEST_INVALID: 'EVA_ERR_REQUEST_INVALID',
  REQUEST_UNKNOWN: 'EVA_ERR_REQUEST_UNKNOWN',
  HTTP_LISTEN: 'EVA_ERR_HTTP_LISTEN',
  SHUTDOWN_TIMEOUT: 'EVA_ERR_SHUTDOWN_TIMEOUT',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class AgentError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
    this.code = code;
  }
}

/** The message of anything thrown, for reasons and responses (never `[object Object]`). */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
