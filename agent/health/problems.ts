import type { Alert } from '../alerts.js';
import type { CameraStatus } from '../capture/index.js';
import type { EventBus } from '../events.js';
import type { DeploymentStatus } from '../models/index.js';
import type { Clock, Service } from '../service.js';
import type { LinkStatus } from '../sync/index.js';
import type { CameraActivity } from './line-stats.js';
import type { SystemSnapshot } from './system-monitor.js';

/** One entry of `problems[]` in `/api/status`: what needs a person, now. */
export interface Problem {
  code: string;
  severity: 'warning' | 'critical';
  message: string;
  cameraId?: string;
  modelId?: string;
  /** When the agent first saw it (epoch ms). */
  since?: number;
}

/** What the problems are read from: the same snapshots `/api/status` shows. */
export interface ProblemInputs {
  cameras: (CameraStatus & { activity?: CameraActivity | undefined })[];
  models: DeploymentStatus[];
  link: LinkStatus;
  backlog: number;
  disk: { full: boolean; usedBytes: number; budgetBytes: number };
  /** The store's own problems (store/StoreHealth: DISK_FULL, STORE_UNWRITABLE, DECISIONS_HELD, ...). */
  store: readonly Omit<Problem, 'since'>[];
  /** Problems other parts report about themselves (drift without a baseline). */
  extra?: readonly Omit<Problem, 'since'>[];
  system: SystemSnapshot;
  alerts: Alert[];
}

/** A backlog above this many decisions is listed as a problem (the broker has been away a while). */
export const BACKLOG_WARNING = 1_000;
/**
 * Conditions that are normal while the agent comes up (broker connecting, models loading, a backlog
 * draining, inference warming up, a camera's first connection) are held back this long after start, so a
 * technician looking at a freshly started agent sees real problems only. Anything that was fine and then
 * broke (a broker that was connected, a camera that delivered frames) is shown at once.
 */
export const STARTUP_GRACE_MS = 120_000;
/** Disk use at or above this share of store.maxDiskMB is "nearly full", a warning before DISK_FULL. */
export const DISK_NEARLY_FULL_SHARE = 0.9;
/** The file system itself (not only the budget) with less free than this share is nearly full too. */
export const FS_FREE_MIN_SHARE = 0.05;
/** CPU temperature (the first thermal zone) at or above: a warning; at or above the second: critical. */
export const TEMPERATURE_WARNING_C = 85;
export const TEMPERATURE_CRITICAL_C = 95;
/** Parts without a model verdict by the deadline in the recent window before it is a problem: one is noise. */
export const DEADLINE_MISSES_MIN = 3;
/** A free-running camera (not a folder) without a frame this long is a problem even if no watchdog says so. */
export const NO_FRAME_PROBLEM_MS = 30_000;

interface Candidate extends Problem {
  /** True for a condition that is expected while starting: held back during STARTUP_GRACE_MS. */
  startup: boolean;
}

/**
 * The problems list: conditions read from each part's snapshot, plus every active alert (drift, provider
 * fallback, auto-rollback: whatever a part raises through the AlertSink) not already listed, critical
 * first. Quiet for the first two minutes about what settles by itself while starting (STARTUP_GRACE_MS).
 * Listens to `LinkStateChanged` to know whether the broker was ever reached.
 */
export class Problems implements Service {
  readonly name = 'problems';
  private startedAt: number;
  private linkWasUp = false;
  private readonly firstSeen = new Map<string, number>();

  constructor(private readonly deps: { clock: Clock; events: EventBus; graceMs?: number }) {
    this.startedAt = deps.clock.now();
  }

  async start(): Promise<void> {
    this.startedAt = this.deps.clock.now();
    this.deps.events.on(
      'LinkStateChanged',
      ({ connected }) => {
        if (connected) this.linkWasUp = true;
      },
      this.name,
    );
  }

  async stop(): Promise<void> {
    this.deps.events.removeListeners(this.name);
  }

  list(now: ProblemInputs): Problem[] {
    const t = this.deps.clock.now();
    if (now.link.connected) this.linkWasUp = true;
    const inGrace = t - this.startedAt < (this.deps.graceMs ?? STARTUP_GRACE_MS);
    const found = [...this.conditions(now, t)];
    const keys = new Set(found.map(keyOf));
    for (const a of now.alerts) {
      const p: Candidate = {
        code: a.code,
        severity: a.severity,
        message: a.message,
        ...(a.cameraId !== undefined ? { cameraId: a.cameraId } : {}),
        ...(a.modelId !== undefined ? { modelId: a.modelId } : {}),
        startup: false,
      };
      if (!keys.has(keyOf(p))) {
        keys.add(keyOf(p));
        found.push(p);
      }
    }
    for (const key of this.firstSeen.keys()) if (!keys.has(key)) this.firstSeen.delete(key);
    const out: Problem[] = [];
    for (const { startup, ...p } of found) {
      const key = keyOf(p);
      if (!this.firstSeen.has(key)) this.firstSeen.set(key, t);
      if (startup && inGrace) continue;
      out.push({ ...p, since: this.firstSeen.get(key) as number });
    }
    return out.sort(
      (a, b) =>
        rank(a.severity) - rank(b.severity) ||
        a.code.localeCompare(b.code) ||
        keyOf(a).localeCompare(keyOf(b)),
    );
  }

  private *conditions(now: ProblemInputs, t: number): Generator<Candidate> {
    for (const m of now.models) {
      if (m.state === 'failed') {
        yield {
          code: 'MODEL_FAILED',
          severity: 'critical',
          modelId: m.id,
          message: m.error ?? 'model failed',
          startup: false,
        };
      }
      // what the model's own deployment says needs a person (a start-up fallback, an automatic rollback)
      for (const p of m.problems ?? []) yield { ...p, modelId: m.id, startup: false };
      if (m.file?.changed) {
        yield {
          code: 'MODEL_FILE_CHANGED',
          severity: 'warning',
          modelId: m.id,
          message: m.file.changed,
          startup: false,
        };
      }
    }
    for (const c of now.cameras) {
      if (c.skippedFiles && c.skippedFiles.count > 0) {
        const n = c.skippedFiles.count;
        yield {
          code: 'CAMERA_FILES_SKIPPED',
          severity: 'warning',
          cameraId: c.id,
          message: `${n} ${n === 1 ? 'entry' : 'entries'} in the camera's folder not judged (latest: ${c.skippedFiles.last})`,
          startup: false,
        };
      }
    }
    for (const c of now.cameras) yield* this.cameraConditions(c, t);
    if (!now.link.connected) {
      const why = now.link.lastError ? `: ${now.link.lastError}` : '';
      yield {
        code: 'MQTT_DOWN',
        severity: 'warning',
        message: `not connected to ${now.link.url}${why}; decisions are buffered`,
        // a broker that was reached and lost is news at once; one still being connected to is not yet
        startup: !this.linkWasUp,
      };
    }
    yield* diskConditions(now);
    if (now.backlog > BACKLOG_WARNING) {
      yield {
        code: 'BACKLOG',
        severity: 'warning',
        message: `${now.backlog} decisions waiting to be delivered`,
        startup: true,
      };
    }
    const temp = now.system.temperature.cpuC;
    if (temp !== null && temp >= TEMPERATURE_WARNING_C) {
      yield {
        code: 'HIGH_TEMPERATURE',
        severity: temp >= TEMPERATURE_CRITICAL_C ? 'critical' : 'warning',
        message: `CPU at ${temp} °C (warning from ${TEMPERATURE_WARNING_C} °C): check the cabinet's cooling; the CPU will throttle and inference slow down`,
        startup: false,
      };
    }
  }

  private *cameraConditions(
    c: CameraStatus & { activity?: CameraActivity | undefined },
    t: number,
  ): Generator<Candidate> {
    const neverHadFrame = c.lastFrameAgeMs === null;
    if (c.state === 'waiting-for-model') {
      yield {
        code: 'CAMERA_WAITING',
        severity: 'critical',
        cameraId: c.id,
        message: `waiting for model ${c.model}`,
        startup: true,
      };
    }
    if (c.enabled && c.connection?.state === 'down') {
      yield {
        code: 'CAMERA_DOWN',
        severity: 'critical',
        cameraId: c.id,
        message: `camera ${c.id} is down: ${c.connection.reason}`,
        startup: neverHadFrame,
      };
    }
    const freeRunning = c.trigger === 'interval' || c.trigger === 'continuous';
    if (
      c.enabled &&
      c.state === 'running' &&
      freeRunning &&
      c.connection === null &&
      c.source !== 'folder' &&
      (c.lastFrameAgeMs ?? t - this.startedAt) > NO_FRAME_PROBLEM_MS
    ) {
      const age = c.lastFrameAgeMs === null ? 'since start' : `for ${Math.round(c.lastFrameAgeMs / 1000)} s`;
      yield {
        code: 'CAMERA_NO_FRAMES',
        severity: 'critical',
        cameraId: c.id,
        message: `camera ${c.id} delivered no frame ${age}${c.lastError ? `: ${c.lastError}` : ''}`,
        startup: neverHadFrame,
      };
    }
    const a = c.activity;
    if (a && a.recent.missed >= DEADLINE_MISSES_MIN) {
      const p99 = a.latencyMs.p99 === null ? '' : ` (latency p99 ${a.latencyMs.p99} ms)`;
      yield {
        code: 'DEADLINE_MISSES',
        severity: 'warning',
        cameraId: c.id,
        message: `${a.recent.missed} of ${a.recent.decided} parts in the last ${a.recent.windowS / 60} min got no model verdict within ${a.deadlineMs} ms${p99}: inference is slower than the deadline allows`,
        startup: true,
      };
    }
  }
}

function* diskConditions(now: ProblemInputs): Generator<Candidate> {
  // the store says best why it cannot write (one DISK_FULL whichever way the disk ran out)
  for (const p of now.store) yield { ...p, startup: false };
  for (const p of now.extra ?? []) yield { ...p, startup: false };
  if (now.disk.full && !now.store.some((p) => p.code === 'DISK_FULL')) {
    yield {
      code: 'DISK_FULL',
      severity: 'critical',
      message:
        'store.maxDiskMB reached with only undelivered decisions left: verdicts are recorded, images are not',
      startup: false,
    };
    return;
  }
  const { usedBytes, budgetBytes } = now.disk;
  const { totalBytes, freeBytes } = now.system.disk;
  if (budgetBytes > 0 && usedBytes >= DISK_NEARLY_FULL_SHARE * budgetBytes) {
    yield {
      code: 'DISK_NEARLY_FULL',
      severity: 'warning',
      message: `the store uses ${mb(usedBytes)} of its ${mb(budgetBytes)} budget (store.maxDiskMB): synced images and decisions are being dropped to stay under it`,
      startup: false,
    };
  } else if (totalBytes && freeBytes !== null && freeBytes < FS_FREE_MIN_SHARE * totalBytes) {
    yield {
      code: 'DISK_NEARLY_FULL',
      severity: 'warning',
      message: `the file system of ${now.system.disk.path} has ${mb(freeBytes)} free of ${mb(totalBytes)}: the store may fail to write before it reaches store.maxDiskMB`,
      startup: false,
    };
  }
}

function keyOf(p: { code: string; cameraId?: string | undefined; modelId?: string | undefined }): string {
  return `${p.code}/${p.cameraId ?? ''}/${p.modelId ?? ''}`;
}

const rank = (s: Problem['severity']) => (s === 'critical' ? 0 : 1);
const mb = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MB`;
