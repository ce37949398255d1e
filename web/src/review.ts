import { checkToken, getJson, request, session } from './api.js';
import { byId, clear, el, setText } from './dom.js';
import { clock } from './format.js';
import type { Decision } from './types.js';

/** How many NG and UNCERTAIN decisions the queue shows, newest first. */
const QUEUE_SIZE = 12;
/** The queue is read again at most this often while decisions arrive. */
const QUEUE_REFRESH_MS = 5_000;

/** Sign-in with the bearer token, kept for this tab's session only. */
export class SignIn {
  private readonly dialog = byId<HTMLDialogElement>('signin-dialog');

  constructor(private readonly onChange: () => void) {
    byId('signin-btn').addEventListener('click', () => this.open());
    byId('signout-btn').addEventListener('click', () => {
      session.token = null;
      this.render();
    });
    byId('signin-cancel').addEventListener('click', () => this.dialog.close());
    byId('signin-submit').addEventListener('click', () => void this.submit());
    byId('signin-token').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') void this.submit();
    });
    this.render();
  }

  open(): void {
    setText(byId('signin-error'), '');
    byId<HTMLInputElement>('signin-name').value = session.user;
    this.dialog.showModal();
  }

  render(): void {
    const signedIn = session.token !== null;
    byId('signin-btn').hidden = signedIn;
    byId('signed-in').hidden = !signedIn;
    setText(byId('signed-in-name'), session.user || 'technician');
    document.body.dataset.signedIn = String(signedIn);
    this.onChange();
  }

  private async submit(): Promise<void> {
    const token = byId<HTMLInputElement>('signin-token').value.trim();
    const name = byId<HTMLInputElement>('signin-name').value.trim();
    if (!name) return setText(byId('signin-error'), 'Your name goes into the audit trail: enter it.');
    if (!token) return setText(byId('signin-error'), 'Enter the agent token (health.token).');
    if (!(await checkToken(token))) return setText(byId('signin-error'), 'That token is not the agent’s.');
    session.token = token;
    session.user = name;
    byId<HTMLInputElement>('signin-token').value = '';
    this.dialog.close();
    this.render();
  }
}

/**
 * The review queue: the last NG and UNCERTAIN decisions with their stored images; a signed-in technician
 * records an outcome (OK / NG, from re-inspection) or overrides the verdict with a reason, through the
 * same `outcome` and `override` requests as MQTT (CONTRACT section 3), so the audit trail says who.
 */
export class ReviewQueue {
  private readonly list = byId('review-list');
  private readonly dialog = byId<HTMLDialogElement>('review-dialog');
  private lastLoad = 0;
  private loading = false;
  private current: Decision | undefined;

  constructor(private readonly signIn: SignIn) {
    byId('review-close').addEventListener('click', () => this.dialog.close());
    byId('outcome-ok').addEventListener('click', () => void this.outcome('OK'));
    byId('outcome-ng').addEventListener('click', () => void this.outcome('NG'));
    byId('override-submit').addEventListener('click', () => void this.override());
  }

  /** Reads the queue again (throttled unless `now`). */
  refresh(now = false): void {
    if (this.loading || (!now && Date.now() - this.lastLoad < QUEUE_REFRESH_MS)) return;
    this.loading = true;
    this.lastLoad = Date.now();
    void this.load().finally(() => {
      this.loading = false;
    });
  }

  private async load(): Promise<void> {
    const [ng, uncertain] = await Promise.all(
      ['NG', 'UNCERTAIN'].map((v) =>
        getJson<{ decisions: Decision[] }>(`/api/decisions?verdict=${v}&limit=${QUEUE_SIZE}`)
          .then((r) => r.decisions)
          .catch(() => [] as Decision[]),
      ),
    );
    const queue = [...(ng ?? []), ...(uncertain ?? [])]
      .sort((a, b) => b.decidedAt - a.decidedAt || b.seq - a.seq)
      .slice(0, QUEUE_SIZE);
    clear(this.list);
    if (queue.length === 0) this.list.append(el('li', { class: 'none' }, 'Nothing to review.'));
    for (const d of queue) this.list.append(this.item(d));
  }

  private item(d: Decision): HTMLElement {
    const img = thumbnail(d);
    const li = el(
      'li',
      { class: 'review-item', 'data-id': d.id, 'data-verdict': d.verdict, tabindex: '0' },
      img,
      el(
        'div',
        {},
        el('strong', { class: 'verdict' }, d.verdict),
        ` ${d.cameraId} · #${d.seq}${d.partId ? ` · ${d.partId}` : ''} · ${clock(d.decidedAt)}`,
        el('div', { class: 'reason' }, d.reason),
      ),
    );
    li.addEventListener('click', () => void this.open(d.id));
    li.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') void this.open(d.id);
    });
    return li;
  }

  async open(id: string): Promise<void> {
    const d = await getJson<Decision>(`/api/decisions/${encodeURIComponent(id)}`);
    this.current = d;
    const body = byId('review-body');
    clear(body);
    body.append(
      thumbnail(d, 'large'),
      el(
        'p',
        {},
        el('strong', { class: 'verdict', 'data-verdict': d.verdict }, d.verdict),
        ` ${d.reason}`,
        el('br'),
        `${d.cameraId} · #${d.seq}${d.partId ? ` · part ${d.partId}` : ''} · ${new Date(d.decidedAt).toLocaleString()}`,
        d.model ? ` · ${d.model.id} v${d.model.version} (${d.model.provider})` : '',
      ),
      trail(d),
    );
    setText(byId('review-result'), '');
    byId('review-actions').hidden = session.token === null;
    byId('review-signin-hint').hidden = session.token !== null;
    if (!this.dialog.open) this.dialog.showModal();
  }

  private async outcome(actual: 'OK' | 'NG'): Promise<void> {
    const d = this.current;
    if (!d) return;
    await this.answer(request('outcome', { decisionId: d.id, actual, source: `technician:${session.user}` }));
  }

  private async override(): Promise<void> {
    const d = this.current;
    if (!d) return;
    const verdict = byId<HTMLSelectElement>('override-verdict').value;
    const reason = byId<HTMLTextAreaElement>('override-reason').value.trim();
    if (!reason) return setText(byId('review-result'), 'An override needs a reason.');
    await this.answer(request('override', { decisionId: d.id, verdict, user: session.user, reason }));
    byId<HTMLTextAreaElement>('override-reason').value = '';
  }

  private async answer(pending: ReturnType<typeof request>): Promise<void> {
    const r = await pending;
    if (r.status === 'ok') {
      setText(byId('review-result'), 'Recorded.');
      if (this.current) await this.open(this.current.id);
      setText(byId('review-result'), 'Recorded.');
    } else {
      setText(byId('review-result'), `Refused: ${r.error ?? 'unknown error'}${r.code ? ` (${r.code})` : ''}`);
      if (session.token === null) this.signIn.render();
    }
  }
}

/**
 * The decision's stored image: the annotated copy where the store keeps one (a detection with boxes), the
 * frame otherwise, and the frame again if the annotated copy has been dropped.
 */
function thumbnail(d: Decision, size: 'small' | 'large' = 'small'): HTMLElement {
  if (!d.image?.stored) return el('div', { class: `thumb ${size} missing` }, 'no image kept');
  const base = `/api/decisions/${encodeURIComponent(d.id)}/image`;
  const annotated = d.result?.task === 'detection' && (d.result.detections?.length ?? 0) > 0;
  const img = el('img', {
    class: `thumb ${size}`,
    alt: `${d.verdict} ${d.cameraId} #${d.seq}`,
    loading: 'lazy',
    src: annotated ? `${base}?kind=annotated` : base,
  });
  if (annotated) {
    img.addEventListener(
      'error',
      () => {
        img.src = base;
      },
      { once: true },
    );
  }
  return img;
}

/** Outcomes and overrides already recorded for the decision (the audit trail). */
function trail(d: Decision): HTMLElement {
  const items = [
    ...(d.outcomes ?? []).map((o) => ({
      at: o.receivedAt,
      text: `outcome ${o.actual}${o.source ? ` from ${o.source}` : ''}`,
    })),
    ...(d.overrides ?? []).map((o) => ({
      at: o.receivedAt,
      text: `override ${o.verdict} by ${o.user}: ${o.reason}`,
    })),
  ].sort((a, b) => a.at - b.at);
  if (items.length === 0) return el('p', { class: 'trail none' }, 'No outcome or override recorded yet.');
  return el('ul', { class: 'trail' }, ...items.map((i) => el('li', {}, `${clock(i.at)} ${i.text}`)));
}
