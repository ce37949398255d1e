import { agentError } from '../errors.js';
import type { RequestHandlers } from './requests.js';

/** A camera as requests reach it (capture's Camera). */
export interface RequestableCamera {
  trigger(partId?: string): Promise<{ id: string; seq: number; verdict: string; degraded: boolean }>;
  setEnabled(enabled: boolean): void;
}

/** Who asked, and whether a refusal is overridden; the deployment writes both into its rollout record. */
export interface ModelChangeOptions {
  force?: boolean | undefined;
  via?: string | undefined;
}

/** A model as requests reach it (models' ModelDeployment). */
export interface RequestableModel {
  promote(
    version: string,
    opts?: ModelChangeOptions & { canary?: { cameras?: string[] | undefined; share?: number | undefined } },
  ): Promise<unknown>;
  rollback(opts?: ModelChangeOptions): Promise<unknown>;
  delete?(version: string, opts?: ModelChangeOptions): Promise<unknown>;
}

/**
 * `trigger`, `camera/enable`, `model/promote`, `model/rollback` (CONTRACT section 3): the requests that act
 * on the line, by camera and model id. An unknown id is refused with the ids that exist.
 */
export function lineRequestHandlers(
  cameras: ReadonlyMap<string, RequestableCamera>,
  models: ReadonlyMap<string, RequestableModel>,
): Pick<RequestHandlers, 'trigger' | 'camera/enable' | 'model/promote' | 'model/rollback' | 'model/delete'> {
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
    'model/promote': ({ model, version, force, canary }, { via }) =>
      byId(models, model, 'model').promote(version, { force, via, ...(canary ? { canary } : {}) }),
    'model/rollback': ({ model }, { via }) => byId(models, model, 'model').rollback({ via }),
    'model/delete': async ({ model, version, force }, { via }) => {
      const m = byId(models, model, 'model');
      if (!m.delete) throw agentError('MODEL_UNKNOWN', { model, known: [] });
      return m.delete(version, { force, via });
    },
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

/** Drift monitoring as requests reach it (drift's DriftMonitor); absent when agent.yaml has no `drift`. */
export interface RequestableDrift {
  requestBaseline(camera: string, decisions?: number): unknown;
}

/** `drift/baseline` (CONTRACT section 3): collect the next N live decisions into a baseline. */
export function driftRequestHandlers(
  drift: RequestableDrift | undefined,
): Pick<RequestHandlers, 'drift/baseline'> {
  return {
    'drift/baseline': async ({ camera, decisions }) => {
      if (!drift) throw agentError('DRIFT_NOT_CONFIGURED');
      return drift.requestBaseline(camera, decisions);
    },
  };
}
