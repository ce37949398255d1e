import { byId, setText } from './dom.js';

/** The aim view asks for a snapshot this often; the agent makes at most 2.5 a second per camera anyway. */
const AIM_PERIOD_MS = 500;

/**
 * Aim and focus: the camera's live view (snapshots at a low rate) with its sharpness and exposure. The
 * sharpness has no fixed scale, so the meter shows it against the best seen since the view opened: turn
 * the focus ring for the highest value on a fixed target.
 */
export class AimView {
  private readonly dialog = byId<HTMLDialogElement>('aim-dialog');
  private readonly img = byId<HTMLImageElement>('aim-image');
  private camera: string | undefined;
  private timer: number | undefined;
  private best = 0;

  constructor() {
    byId('aim-close').addEventListener('click', () => this.dialog.close());
    this.dialog.addEventListener('close', () => this.stop());
  }

  open(camera: string): void {
    this.camera = camera;
    this.best = 0;
    setText(byId('aim-title'), `Aim & focus: ${camera}`);
    byId<HTMLAnchorElement>('aim-stream').href = `/api/cameras/${encodeURIComponent(camera)}/stream`;
    setText(byId('aim-error'), '');
    this.dialog.showModal();
    void this.poll();
  }

  private stop(): void {
    this.camera = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async poll(): Promise<void> {
    const camera = this.camera;
    if (!camera) return;
    try {
      const res = await fetch(`/api/cameras/${encodeURIComponent(camera)}/snapshot`, { cache: 'no-store' });
      if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as { error?: string };
        setText(byId('aim-error'), body.error ?? `HTTP ${res.status}`);
      } else {
        setText(byId('aim-error'), '');
        const h = (name: string) => Number(res.headers.get(name) ?? 'NaN');
        const sharpness = h('x-eva-sharpness');
        const exposure = h('x-eva-exposure');
        const dark = h('x-eva-exposure-dark');
        const bright = h('x-eva-exposure-bright');
        const url = URL.createObjectURL(await res.blob());
        const old = this.img.src;
        this.img.src = url;
        if (old.startsWith('blob:')) URL.revokeObjectURL(old);
        this.best = Math.max(this.best, sharpness);
        const sharp = byId<HTMLMeterElement>('aim-sharpness');
        sharp.max = this.best || 1;
        sharp.value = sharpness;
        sharp.high = 0.9 * (this.best || 1);
        setText(
          byId('aim-sharpness-text'),
          `${sharpness.toFixed(0)} (best ${this.best.toFixed(0)}; ${this.best ? Math.round((100 * sharpness) / this.best) : 0} %)`,
        );
        const exp = byId<HTMLMeterElement>('aim-exposure');
        exp.value = exposure;
        setText(
          byId('aim-exposure-text'),
          `mean ${exposure.toFixed(0)} of 255 · ${(dark * 100).toFixed(1)} % black · ${(bright * 100).toFixed(1)} % blown · ${res.headers.get('x-eva-frame-size') ?? ''}`,
        );
      }
    } catch (err) {
      setText(byId('aim-error'), String(err));
    }
    if (this.camera === camera) this.timer = window.setTimeout(() => void this.poll(), AIM_PERIOD_MS);
  }
}
