import { AgentPanel, renderProblems } from './agent-panel.js';
import { AimView } from './aim.js';
import { getJson } from './api.js';
import { byId, setText } from './dom.js';
import { ReviewQueue, SignIn } from './review.js';
import { CameraTile } from './tiles.js';
import type { DecisionSummary, History, HistoryPoint, Status } from './types.js';

/**
 * The technician page: everything from the agent's own API, kept live by its server-sent events
 * (`/api/events`): `status` (the whole status, every few seconds and on every change), `decisions` (the
 * newest per camera, once a second) and `sample` (a history point for the charts, every 10 s).
 */
const tiles = new Map<string, CameraTile>();
const agentPanel = new AgentPanel();
const aim = new AimView();
let history: History | undefined;
let latest: Status | undefined;

const signIn = new SignIn(() => undefined);
const review = new ReviewQueue(signIn);

function render(s: Status): void {
  latest = s;
  agentPanel.render(s);
  renderProblems(s.problems);
  const grid = byId('cameras');
  for (const c of s.cameras) {
    let tile = tiles.get(c.id);
    if (!tile) {
      tile = new CameraTile(c.id, (id) => aim.open(id));
      tiles.set(c.id, tile);
      grid.append(tile.root);
    }
    tile.render(c, s);
  }
  setText(byId('updated'), `updated ${new Date().toLocaleTimeString()}`);
}

function renderHistory(h: History): void {
  agentPanel.history(h);
  for (const tile of tiles.values()) tile.history(h);
}

/** Appends a live history point, keeping the window the agent keeps. */
function addPoint(p: HistoryPoint): void {
  if (!history) return;
  const h = history;
  h.t.push(p.t);
  for (const key of Object.keys(h.agent) as (keyof History['agent'])[]) h.agent[key].push(p.agent[key]);
  for (const [id, cam] of Object.entries(p.cameras)) {
    const series = h.cameras[id] ?? emptyCamera(h.t.length - 1);
    h.cameras[id] = series;
    for (const key of Object.keys(series) as (keyof typeof cam)[]) series[key].push(cam[key]);
  }
  const keep = Math.round((h.windowS * 1000) / h.stepMs);
  if (h.t.length > keep) {
    const cut = h.t.length - keep;
    h.t.splice(0, cut);
    for (const col of Object.values(h.agent)) col.splice(0, cut);
    for (const cam of Object.values(h.cameras)) for (const col of Object.values(cam)) col.splice(0, cut);
  }
  renderHistory(h);
}

function emptyCamera(n: number): History['cameras'][string] {
  const nulls = () => Array.from({ length: n }, () => null);
  return { fps: nulls(), latencyP50Ms: nulls(), latencyP99Ms: nulls(), decisions: nulls(), ng: nulls() };
}

function connect(): void {
  const conn = byId('conn');
  const events = new EventSource('/api/events');
  events.addEventListener('open', () => {
    setText(conn, 'live');
    conn.dataset.state = 'live';
  });
  events.addEventListener('error', () => {
    // EventSource reconnects by itself (the agent asks for every 3 s)
    setText(conn, 'reconnecting…');
    conn.dataset.state = 'down';
  });
  events.addEventListener('status', (e) => render(JSON.parse((e as MessageEvent<string>).data) as Status));
  events.addEventListener('decisions', (e) => {
    const list = JSON.parse((e as MessageEvent<string>).data) as DecisionSummary[];
    for (const d of list) tiles.get(d.cameraId)?.decided(d);
    if (list.some((d) => d.verdict === 'NG' || d.verdict === 'UNCERTAIN')) review.refresh();
  });
  events.addEventListener('sample', (e) =>
    addPoint(JSON.parse((e as MessageEvent<string>).data) as HistoryPoint),
  );
}

async function boot(): Promise<void> {
  try {
    const s = await getJson<Status>('/api/status');
    render(s);
    if (s.history) {
      history = s.history;
      renderHistory(history);
    }
  } catch (err) {
    setText(byId('updated'), `status unavailable: ${String(err)}`);
  }
  review.refresh(true);
  connect();
  // relative times ("since 2 min ago") age even when nothing changes
  setInterval(() => {
    if (latest) renderProblems(latest.problems);
  }, 15_000);
}

void boot();
