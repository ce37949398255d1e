import type { AlertSink } from '../alerts.js';
import { type DriftAlertCode, WINDOW_ALERTS, type WindowAlertCode } from './catalogue.js';

/** A window alert goes active after this many breaching windows in a row... */
export const BREACHES_TO_RAISE = 2;
/** ...and clears after this many clean ones: one noisy window neither raises nor clears it. */
export const CLEAN_TO_CLEAR = 3;
/** CAMERA_UNFIT: this many unfit frames in a row raise it (one glitched frame does not)... */
export const UNFIT_FRAMES_TO_RAISE = 3;
/** ...and this many fit frames in a row clear it. */
export const FIT_FRAMES_TO_CLEAR = 10;

const SEVERITY: Readonly<Record<DriftAlertCode, 'warning' | 'critical'>> = {
  DRIFT_INPUT: 'warning',
  DRIFT_OUTPUT: 'warning',
  DRIFT_NG_RATE: 'warning',
  // the plant's own ground truth says the line is misjudged, or the camera cannot judge at all
  ACCURACY_BELOW_FLOOR: 'critical',
  CAMERA_UNFIT: 'critical',
};

interface Streak {
  breaches: number;
  cleans: number;
  active: boolean;
}

/** What is remembered across restarts (drift_state). */
export interface AlertMemory {
  windows: Record<WindowAlertCode, Streak>;
  unfit: { streak: number; fit: number; active: boolean; reason: string | null };
}

export function freshAlertMemory(): AlertMemory {
  const windows = {} as Record<WindowAlertCode, Streak>;
  for (const code of WINDOW_ALERTS) windows[code] = { breaches: 0, cleans: 0, active: false };
  return { windows, unfit: { streak: 0, fit: 0, active: false, reason: null } };
}

/**
 * One camera's drift alerts, with their hysteresis: window alerts need BREACHES_TO_RAISE breaching windows
 * in a row and clear after CLEAN_TO_CLEAR clean ones; CAMERA_UNFIT counts frames. Raised and cleared
 * through the one AlertSink (R/alerts, /api/status).
 */
export class CameraAlerts {
  constructor(
    private readonly cameraId: string,
    private readonly sink: AlertSink,
    readonly memory: AlertMemory = freshAlertMemory(),
  ) {}

  /**
   * One window's verdict for `code`: breach, clean, or null when it could not be judged (too few decisions
   * or outcomes), which moves neither streak.
   */
  window(code: WindowAlertCode, breach: boolean | null, message: () => string, clearMessage: string): void {
    if (breach === null) return;
    const s = this.memory.windows[code];
    if (breach) {
      s.breaches++;
      s.cleans = 0;
      if (!s.active && s.breaches >= BREACHES_TO_RAISE) {
        s.active = true;
        this.raise(code, true, message());
      }
    } else {
      s.cleans++;
      s.breaches = 0;
      if (s.active && s.cleans >= CLEAN_TO_CLEAR) {
        s.active = false;
        this.raise(code, false, clearMessage);
      }
    }
  }

  /** One frame's fitness: the reason it is unfit, or undefined when it is fit. */
  frame(unfit: string | undefined): void {
    const u = this.memory.unfit;
    if (unfit) {
      u.streak++;
      u.fit = 0;
      u.reason = unfit;
      if (!u.active && u.streak >= UNFIT_FRAMES_TO_RAISE) {
        u.active = true;
        this.raise('CAMERA_UNFIT', true, `camera ${this.cameraId} is unfit to judge: ${unfit}`);
      }
    } else {
      u.fit++;
      u.streak = 0;
      if (u.active && u.fit >= FIT_FRAMES_TO_CLEAR) {
        u.active = false;
        this.raise('CAMERA_UNFIT', false, `camera ${this.cameraId}: frames are fit to judge again`);
      }
    }
  }

  /** Ends every drift alert of this camera (the model changed: its old baseline no longer applies). */
  clearAll(why: string): void {
    for (const code of WINDOW_ALERTS) {
      const s = this.memory.windows[code];
      if (s.active) this.raise(code, false, why);
      this.memory.windows[code] = { breaches: 0, cleans: 0, active: false };
    }
    if (this.memory.unfit.active) this.raise('CAMERA_UNFIT', false, why);
    this.memory.unfit = { streak: 0, fit: 0, active: false, reason: null };
  }

  /** Says again every alert the memory holds as active (after a restart, the Alerts service starts empty). */
  restate(): void {
    for (const code of WINDOW_ALERTS) {
      if (this.memory.windows[code].active)
        this.raise(code, true, `${code} still active for camera ${this.cameraId} (restored after a restart)`);
    }
    const u = this.memory.unfit;
    if (u.active)
      this.raise(
        'CAMERA_UNFIT',
        true,
        `camera ${this.cameraId} is unfit to judge: ${u.reason ?? 'see earlier frames'}`,
      );
  }

  active(): DriftAlertCode[] {
    const codes: DriftAlertCode[] = WINDOW_ALERTS.filter((c) => this.memory.windows[c].active);
    if (this.memory.unfit.active) codes.push('CAMERA_UNFIT');
    return codes;
  }

  /** Whether this window breached `code` (the streak is counting). */
  breaching(code: WindowAlertCode): boolean {
    return this.memory.windows[code].breaches > 0;
  }

  private raise(code: DriftAlertCode, active: boolean, message: string): void {
    this.sink.raise({ code, severity: SEVERITY[code], cameraId: this.cameraId, message, active });
  }
}
