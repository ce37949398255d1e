import { Chart, HISTORY_WINDOW_S } from './charts.js';
import { el, setText } from './dom.js';
import { ago, ms, pct } from './format.js';
import type { CameraEntry, DecisionSummary, DriftReport, History, ModelEntry, Status } from './types.js';

/** A judged frame is fetched at most this often per tile (the server annotates at most once a second too). */
const JUDGED_REFRESH_MS = 1_000;

/** One camera's tile: its last judged frame, counts, latency, frames, connection, model, shadow and drift. */
export class CameraTile {
  readonly root: HTMLElement;
  private readonly img: HTMLImageElement;
  private readonly caption: HTMLElement;
  private readonly fields: Record<string, HTMLElement> = {};
  private readonly chart: Chart;
  private readonly driftChart: Chart;
  private readonly driftSeries: { t: number[]; worst: (number | null)[] } = { t: [], worst: [] };
  private judgedSeq = -1;
  private lastFetch = 0;
  private fetching = false;
  private wantedSeq = 0;

  constructor(
    readonly id: string,
    onAim: (id: string) => void,
  ) {
    this.img = el('img', { class: 'judged', alt: `last judged frame of ${id}`, width: '640', height: '480' });
    this.caption = el('figcaption', { class: 'verdict' }, 'no decision yet');
    const dl = el('dl', { class: 'kv' });
    for (const [key, label] of [
      ['counts', 'Last hour'],
      ['ngRate', 'NG rate'],
      ['latency', 'Latency'],
      ['frames', 'Frames'],
      ['connection', 'Connection'],
      ['model', 'Model'],
      ['shadow', 'Shadow'],
      ['drift', 'Drift'],
    ] as const) {
      const dd = el('dd', { class: key });
      this.fields[key] = dd;
      dl.append(el('dt', {}, label), dd);
    }
    const chartBox = el('div', { class: 'chart' });
    const driftBox = el('div', { class: 'chart drift-chart', hidden: '' });
    const aim = el('button', { class: 'aim', type: 'button' }, 'Aim & focus');
    aim.addEventListener('click', () => onAim(id));
    this.root = el(
      'article',
      { class: 'tile camera', 'data-camera': id },
      el('header', {}, el('h3', {}, id), el('span', { class: 'pill state' }, '…')),
      el('figure', {}, this.img, this.caption),
      dl,
      chartBox,
      driftBox,
      aim,
    );
    this.chart = new Chart(chartBox, {
      series: [
        { label: 'p50 ms', stroke: '#2f81f7' },
        { label: 'p99 ms', stroke: '#a371f7' },
        { label: 'NG %', stroke: '#cf222e', side: 'right' },
      ],
      left: 'ms',
      right: 'NG %',
      height: 120,
      windowS: HISTORY_WINDOW_S,
    });
    this.driftChart = new Chart(driftBox, {
      series: [{ label: 'worst score / threshold', stroke: '#bf8700' }],
      left: 'score / threshold',
      height: 90,
    });
    this.img.addEventListener('load', () => this.root.classList.add('has-frame'));
  }

  render(c: CameraEntry, status: Status): void {
    const f = this.fields;
    const stateText = c.connection ? `${c.state} · ${c.connection.state}` : c.state;
    const state = this.root.querySelector('.state') as HTMLElement;
    setText(state, c.enabled ? stateText : 'disabled');
    state.dataset.state = c.connection?.state === 'down' ? 'down' : c.enabled ? c.state : 'disabled';
    const n = c.counts;
    setText(
      f.counts as HTMLElement,
      n ? `OK ${n.OK} · NG ${n.NG} · UNCERTAIN ${n.UNCERTAIN} · ERROR ${n.ERROR}` : '–',
    );
    setText(f.ngRate as HTMLElement, pct(c.ngRate ?? null));
    const l = c.latencyMs;
    setText(
      f.latency as HTMLElement,
      l ? `p50 ${ms(l.p50)} · p99 ${ms(l.p99)} (deadline ${ms(c.deadlineMs)})` : '–',
    );
    const missed =
      c.recent && c.recent.missed > 0 ? ` · ${c.recent.missed} late in ${c.recent.windowS / 60} min` : '';
    setText(f.frames as HTMLElement, `${c.fps.toFixed(1)} fps · ${c.framesSkipped ?? 0} skipped${missed}`);
    const conn = c.connection
      ? `${c.connection.state}${c.connection.reason ? ` (${c.connection.reason})` : ''} · ${c.reconnects} reconnects`
      : `${c.source}, ${c.trigger} trigger`;
    const age =
      c.lastFrameAgeMs === null ? 'no frame yet' : `last frame ${ago(Date.now() - c.lastFrameAgeMs)}`;
    setText(f.connection as HTMLElement, `${conn} · ${age}${c.lastError ? ` · ${c.lastError}` : ''}`);
    const model = status.models.find((m) => m.id === c.model);
    setText(f.model as HTMLElement, modelText(c.model, model));
    const shadow = model?.shadow;
    setText(
      f.shadow as HTMLElement,
      shadow
        ? `v${shadow.version} (${shadow.state}) · agreement ${pct(shadow.agreement)} over ${shadow.frames} frames`
        : 'no candidate running',
    );
    this.renderDrift(driftOf(status.drift, c.id));
    const last = c.lastVerdict;
    if (last) {
      this.caption.dataset.verdict = last.verdict;
      setText(
        this.caption,
        `${last.verdict} · ${last.reason} · #${last.seq}${last.partId ? ` · ${last.partId}` : ''}`,
      );
      if (last.seq > this.judgedSeq) this.wantFrame(last.seq);
    }
  }

  /** A decision arrived (live updates): update the caption now, the frame within a second. */
  decided(d: DecisionSummary): void {
    this.caption.dataset.verdict = d.verdict;
    setText(this.caption, `${d.verdict} · ${d.reason} · #${d.seq}${d.partId ? ` · ${d.partId}` : ''}`);
    if (d.hasFrame) this.wantFrame(d.seq);
  }

  history(h: History): void {
    const cam = h.cameras[this.id];
    if (!cam) return;
    const ngPct = cam.decisions.map((n, i) => {
      const ng = cam.ng[i];
      return n && ng !== null && ng !== undefined ? (100 * ng) / n : null;
    });
    this.chart.update(h.t, [cam.latencyP50Ms, cam.latencyP99Ms, ngPct]);
  }

  private wantFrame(seq: number): void {
    this.wantedSeq = Math.max(this.wantedSeq, seq);
    if (this.fetching) return;
    const wait = Math.max(0, this.lastFetch + JUDGED_REFRESH_MS - Date.now());
    this.fetching = true;
    setTimeout(() => void this.fetchFrame(), wait);
  }

  private async fetchFrame(): Promise<void> {
    this.lastFetch = Date.now();
    const wanted = this.wantedSeq;
    try {
      const res = await fetch(`/api/cameras/${encodeURIComponent(this.id)}/judged`, { cache: 'no-store' });
      if (res.ok) {
        const seq = Number(res.headers.get('x-eva-seq') ?? '0');
        const url = URL.createObjectURL(await res.blob());
        // swap only once the new image has loaded: a tile never flashes empty
        const next = new Image();
        next.src = url;
        await next.decode().catch(() => undefined);
        const old = this.img.src;
        this.img.src = url;
        if (old.startsWith('blob:')) URL.revokeObjectURL(old);
        this.img.dataset.seq = String(seq);
        this.img.title = `decision #${seq}`;
        this.judgedSeq = Math.max(this.judgedSeq, seq);
      }
    } catch {
      // the next decision tries again
    } finally {
      this.fetching = false;
      if (this.wantedSeq > wanted && this.wantedSeq > this.judgedSeq) this.wantFrame(this.wantedSeq);
    }
  }

  private renderDrift(report: DriftReport | undefined): void {
    const dd = this.fields.drift as HTMLElement;
    const box = this.root.querySelector('.drift-chart') as HTMLElement;
    if (!report) {
      setText(dd, 'drift: not available');
      dd.dataset.drift = 'none';
      box.hidden = true;
      return;
    }
    const breaches = (report.statistics ?? []).filter((s) => s.breach).map((s) => s.name);
    setText(
      dd,
      `drift: ${report.status}${breaches.length ? ` (${breaches.join(', ')})` : ''} · ${ago(report.ts)}`,
    );
    dd.dataset.drift = report.status;
    const stats = report.statistics ?? [];
    if (stats.length && this.driftSeries.t.at(-1) !== report.ts) {
      const worst = Math.max(...stats.map((s) => (s.threshold > 0 ? s.score / s.threshold : 0)));
      this.driftSeries.t.push(report.ts);
      this.driftSeries.worst.push(Math.round(worst * 100) / 100);
      if (this.driftSeries.t.length > 120) {
        this.driftSeries.t.shift();
        this.driftSeries.worst.shift();
      }
      box.hidden = false;
      this.driftChart.update(this.driftSeries.t, [this.driftSeries.worst]);
    }
  }
}

function modelText(id: string, m: ModelEntry | undefined): string {
  if (!m) return id;
  const version = m.version ? ` v${m.version}` : '';
  const provider = m.provider ? ` · ${m.provider}` : '';
  return `${id}${version}${provider} · ${m.state}${m.error ? ` (${m.error})` : ''}`;
}

/**
 * The drift report of one camera from the status's `drift` block, whatever its shape turns out to be (a
 * map by camera id, an array of reports, or either under `cameras`): the drift issue defines it.
 */
export function driftOf(drift: unknown, cameraId: string): DriftReport | undefined {
  const isReport = (v: unknown): v is DriftReport =>
    typeof v === 'object' && v !== null && typeof (v as DriftReport).status === 'string';
  const look = (v: unknown, depth: number): DriftReport | undefined => {
    if (depth > 3 || typeof v !== 'object' || v === null) return undefined;
    if (Array.isArray(v)) {
      return v.find((r): r is DriftReport => isReport(r) && r.cameraId === cameraId);
    }
    const o = v as Record<string, unknown>;
    const own = o[cameraId];
    if (isReport(own)) return { ...own, cameraId };
    if (own && typeof own === 'object') {
      const latest = (own as Record<string, unknown>).latest ?? (own as Record<string, unknown>).report;
      if (isReport(latest)) return { ...latest, cameraId };
    }
    return look(o.cameras ?? o.reports, depth + 1);
  };
  return look(drift, 0);
}
