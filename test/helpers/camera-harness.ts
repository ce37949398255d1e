import pino from 'pino';
import type { Test } from 'tap';
import {
  Camera,
  type CameraShot,
  type Frame,
  type FrameSource,
  type LookAhead,
  type WatchdogStatus,
} from '../../agent/capture/index.js';
import type { CameraConfig, TriggerConfig } from '../../agent/config/index.js';
import { AgentMetrics } from '../../agent/metrics.js';
import { sleep } from '../../agent/service.js';
import type { ManualClock } from './manual-clock.js';

export const CAMERA_ID = 'cam1';

/**
 * A camera seen from the test: `next()` waits until the test calls `emit()` (every caller waiting then gets
 * that frame, as a stream gives its newest frame to all), or, with `latencyMs`, answers that long after the
 * call on the manual clock (0: at once, like a folder that always has a file).
 */
export class ManualSource implements FrameSource {
  readonly kind = 'manual';
  nextCalls = 0;
  openCalls = 0;
  closeCalls = 0;
  /** Set to give the source a watchdog view, as a stream source has. */
  snapshot?: () => WatchdogStatus;
  private waiters: { resolve: (f: Frame) => void; reject: (err: unknown) => void }[] = [];
  private frames = 0;

  constructor(
    private readonly clock: ManualClock,
    private readonly latencyMs?: number,
  ) {}

  open(): void {
    this.openCalls++;
  }

  next(signal: AbortSignal): Promise<Frame> {
    this.nextCalls++;
    if (this.latencyMs === 0) return Promise.resolve(this.frame());
    if (this.latencyMs !== undefined) {
      return sleep(this.latencyMs, signal, this.clock).then(() => this.frame());
    }
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const waiter = {
        resolve: (f: Frame) => {
          signal.removeEventListener('abort', onAbort);
          resolve(f);
        },
        reject: (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Callers of `next()` still waiting for a frame. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Captures one frame now and hands it to every waiting caller; returns its name. */
  emit(): string {
    const frame = this.frame();
    for (const w of this.takeWaiters()) w.resolve(frame);
    return frame.name ?? '';
  }

  /** Every waiting caller's `next()` fails with `err`. */
  fail(err: Error): void {
    for (const w of this.takeWaiters()) w.reject(err);
  }

  async close(): Promise<void> {
    this.closeCalls++;
    this.fail(new Error('source closed'));
  }

  private takeWaiters() {
    const waiters = this.waiters;
    this.waiters = [];
    return waiters;
  }

  private frame(): Frame {
    this.frames++;
    return {
      kind: 'encoded',
      data: Buffer.from('jpg'),
      capturedAt: this.clock.now(),
      name: `f${this.frames}`,
    };
  }
}

/** The shot handler, finished by hand: the test decides when each part's decision is "stored". */
export class ShotLog {
  readonly shots: CameraShot[] = [];
  private readonly pending = new Map<number, { resolve: (v: string) => void; reject: (e: Error) => void }>();

  /** With `auto`, every shot finishes at once (its promise is already resolved). */
  constructor(private readonly auto = false) {}

  readonly handler = (shot: CameraShot): Promise<string> => {
    const i = this.shots.push(shot) - 1;
    if (this.auto) return Promise.resolve(`decision-${i}`);
    return new Promise((resolve, reject) => this.pending.set(i, { resolve, reject }));
  };

  get count(): number {
    return this.shots.length;
  }

  get unfinished(): number {
    return this.pending.size;
  }

  shot(i: number): CameraShot {
    const shot = this.shots[i];
    if (!shot) throw new Error(`no shot ${i}; ${this.shots.length} handled`);
    return shot;
  }

  finish(i: number): void {
    this.settle(i).resolve(`decision-${i}`);
  }

  fail(i: number, err: Error): void {
    this.settle(i).reject(err);
  }

  finishAll(): void {
    for (const i of [...this.pending.keys()]) this.finish(i);
  }

  private settle(i: number) {
    const p = this.pending.get(i);
    if (!p) throw new Error(`shot ${i} is not waiting to finish`);
    this.pending.delete(i);
    return p;
  }
}

/**
 * A loop that does not yield (no await between two ticks) would hang the test process for good. The skip
 * counter is the one call such a loop makes every turn, so past this many skips in one test it throws: the
 * loop dies (logged as ended unexpectedly), `spun` is set and the test fails on its assertions instead.
 */
const SPIN_LIMIT = 500;

export interface CameraRigOptions {
  trigger: TriggerConfig;
  enabled?: boolean;
  deadlineMs?: number;
  modelReady?: boolean;
  /** See ManualSource: undefined = frames only on `emit()`. */
  latencyMs?: number;
  /** Shots finish at once instead of waiting for `shots.finish(i)`. */
  autoFinish?: boolean;
  /** Continuous: parts ahead shared with other cameras (the rig's camera judges with model `m1`). */
  lookAhead?: LookAhead;
  /** The camera's id (default CAMERA_ID). */
  id?: string;
}

export function cameraRig(t: Test, clock: ManualClock, options: CameraRigOptions) {
  let modelReady = options.modelReady ?? true;
  let skips = 0;
  const rig = {
    spun: false,
    logs: [] as { level: number; msg: string; err?: { message: string } }[],
  };
  const log = pino({ level: 'debug' }, { write: (s: string) => rig.logs.push(JSON.parse(s)) });
  const metrics = new AgentMetrics(false);
  const inc = metrics.framesSkipped.inc.bind(metrics.framesSkipped);
  metrics.framesSkipped.inc = ((...args: Parameters<typeof inc>) => {
    if (++skips > SPIN_LIMIT) {
      rig.spun = true;
      throw new Error('camera loop spins without yielding');
    }
    inc(...args);
  }) as typeof metrics.framesSkipped.inc;
  const config: CameraConfig = {
    id: options.id ?? CAMERA_ID,
    enabled: options.enabled ?? true,
    source: { type: 'synthetic', width: 8, height: 8, fps: 30 },
    trigger: options.trigger,
    model: 'm1',
    deadlineMs: options.deadlineMs ?? 1000,
    rules: { minScore: 0.5, uncertainBelow: 0.2 },
  };
  const source = new ManualSource(clock, options.latencyMs);
  const shots = new ShotLog(options.autoFinish ?? false);
  const camera = new Camera<string>(config, source, shots.handler, () => modelReady, {
    clock,
    log,
    metrics,
    ...(options.lookAhead ? { lookAhead: options.lookAhead } : {}),
  });
  t.teardown(async () => {
    shots.finishAll();
    await camera.stop();
  });
  const counter = async (c: typeof metrics.framesSkipped) =>
    (await c.get()).values.find((v) => v.labels.camera === config.id)?.value ?? 0;
  return Object.assign(rig, {
    camera,
    source,
    shots,
    metrics,
    setModelReady: (ready: boolean) => {
      modelReady = ready;
    },
    /** eva_frames_skipped_total for this camera. */
    skipped: () => counter(metrics.framesSkipped),
    /** eva_capture_errors_total for this camera. */
    captureErrors: () => counter(metrics.captureErrors),
    /** Log lines at error level with this message. */
    errors: (msg: string) => rig.logs.filter((l) => l.level >= 50 && l.msg === msg),
  });
}
