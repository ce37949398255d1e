import type { CameraStatus } from '../capture/index.js';
import type { Decision } from '../decision/index.js';

/**
 * How the agent's words map onto OPC 40100-1's (docs/opcua.md). Kept apart from node-opcua so it is read
 * and tested without loading the OPC UA stack.
 */

/** The states of `VisionStateMachineType` (OPC 40100-1 8.2). */
export type VisionState = 'Preoperational' | 'Operational' | 'Halted' | 'Error';

/**
 * A camera's state as the vision state machine has it: judging parts is Operational; starting or waiting
 * for a model is Preoperational; disabled (Halt) or stopped is Halted; a stream camera whose watchdog calls
 * it down, or a source whose last capture failed, is Error until frames come again.
 */
export function visionStateOf(c: CameraStatus, captureOk: boolean | null = null): VisionState {
  if (c.state === 'disabled' || c.state === 'stopped') return 'Halted';
  if (c.connection?.state === 'down' || (c.connection === null && captureOk === false)) return 'Error';
  if (c.state === 'running') return 'Operational';
  return 'Preoperational';
}

/** ResultStateDataType (OPC 40100-1 12.19): 1 Completed, 3 Aborted, 4 Failed. */
export const RESULT_STATE = { completed: 1, aborted: 3, failed: 4 } as const;

/**
 * A decision's result state: a verdict the model gave (OK, NG, UNCERTAIN) completed processing; a deadline
 * fallback (degraded) was stopped before completion; ERROR failed. The verdict itself is in ResultContent.
 */
export function resultStateOf(d: Pick<Decision, 'verdict' | 'degraded'>): number {
  if (d.verdict === 'ERROR') return RESULT_STATE.failed;
  return d.degraded ? RESULT_STATE.aborted : RESULT_STATE.completed;
}

/** What a ResultReadyEvent and GetResultById carry, in plain values (the server wraps them in OPC UA types). */
export interface ResultFields {
  resultId: string;
  partId: string | undefined;
  recipe: string;
  /** The configuration is the model version that judged the part (`washer@3`), or `none`. */
  configuration: string;
  /** Our per-agent decision sequence number, as the job id of a single job. */
  jobId: string;
  resultState: number;
  creationTime: Date;
  processingTimes: {
    startTime: Date;
    endTime: Date;
    acquisitionDuration?: number;
    processingDuration: number;
  };
  /** ResultContent: [verdict, reason, degraded, result as JSON] (docs/opcua.md). */
  content: [string, string, boolean, string];
}

export function resultFieldsOf(d: Decision): ResultFields {
  const capturedAt = d.capturedAt ?? undefined;
  const start = capturedAt ?? d.triggeredAt;
  return {
    resultId: d.id,
    partId: d.partId,
    recipe: d.recipe ?? 'none',
    configuration: d.model ? `${d.model.id}@${d.model.version}` : 'none',
    jobId: String(d.seq),
    resultState: resultStateOf(d),
    creationTime: new Date(d.decidedAt),
    processingTimes: {
      startTime: new Date(d.triggeredAt),
      endTime: new Date(d.decidedAt),
      ...(capturedAt !== undefined ? { acquisitionDuration: capturedAt - d.triggeredAt } : {}),
      processingDuration: d.decidedAt - start,
    },
    content: [d.verdict, d.reason, d.degraded, JSON.stringify(d.result)],
  };
}
