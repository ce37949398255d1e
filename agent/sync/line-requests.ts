import { agentError } from '../errors.js';
import type { RequestHandlers } from './requests.js';

/** A camera as requests reach it (capture's Camera). */
export interface RequestableCamera {
  trigger(partId?: string): Promise<{ id: string; seq: number; verdict: string; degraded: boolean }>;
  setEnabled(enabled: boolean): void;
}

/** A model as requests reach it (models' ModelDeployment). */
export interface RequestableModel {
  promote(version: string): Promise<unknown>;
  rollback(): Promise<unknown>;
}

/**
 * `trigger`, `camera/enable`, `model/promote`, `model/rollback` (CONTRACT section 3): the requests that act
 * on the line, by camera and model id. An unknown id is refused with the ids that exist.
 */
export function lineRequestHandlers(
  cameras: ReadonlyMap<string, RequestableCamera>,
  models: ReadonlyMap<string, RequestableModel>,
): Pick<RequestHandlers, 'trigger' | 'camera/enable' | 'model/promote' | 'model/rollback'> {
  return {
    trigger: async ({ camera, partId }) => {
      const decision = await byId(cameras, camera, 'camera').trigger(partId);
      // degraded: a fallback verdict, or one the store could not take yet (held in memory: docs/storage.md)
      return {
        decisionId: decision.id,
        seq: decision.seq,
        verdict: decision.verdict,
        degraded: decision.degraded,
      };
    },
    'camera/enable': async ({ camera, enabled }) => {
      byId(cameras, camera, 'camera').setEnabled(enabled);
      return { camera, enabled };
    },
    'model/promote': ({ model, version }) => byId(models, model, 'model').promote(version),
    'model/rollback': ({ model }) => byId(models, model, 'model').rollback(),
  };
}

/** `map.get(id)`, or a refusal (CAMERA_UNKNOWN, MODEL_UNKNOWN) naming the ids there are. */
export function byId<T>(map: ReadonlyMap<string, T>, id: string, what: 'camera' | 'model'): T {
  const found = map.get(id);
  if (found !== undefined) return found;
  const known = [...map.keys()];
  throw what === 'camera'
    ? agentError('CAMERA_UNKNOWN', { camera: id, known })
    : agentError('MODEL_UNKNOWN', { model: id, known });
}
