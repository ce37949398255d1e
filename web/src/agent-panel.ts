import { Chart, HISTORY_WINDOW_S } from './charts.js';
import { byId, clear, el, setText } from './dom.js';
import { ago, bytes, pct, uptime } from './format.js';
import type { History, Problem, Status } from './types.js';

/** The agent's own figures: broker, backlog, disk, CPU, memory, temperature and GPU, and its charts. */
export class AgentPanel {
  private readonly figures = byId('agent-figures');
  private readonly loadChart = new Chart(byId('agent-chart-load'), {
    series: [
      { label: 'CPU %', stroke: '#2f81f7' },
      { label: 'temperature °C', stroke: '#cf222e' },
    ],
    left: '% / °C',
    height: 120,
    windowS: HISTORY_WINDOW_S,
  });
  private readonly backlogChart = new Chart(byId('agent-chart-backlog'), {
    series: [
      { label: 'backlog', stroke: '#bf8700' },
      { label: 'memory used MB', stroke: '#1a7f37', side: 'right' },
    ],
    left: 'decisions',
    right: 'MB',
    height: 120,
    windowS: HISTORY_WINDOW_S,
  });

  render(s: Status): void {
    setText(byId('agent-id'), s.agent.id);
    setText(byId('agent-version'), `v${s.agent.version} · up ${uptime(s.agent.uptimeS)}`);
    const sys = s.system;
    const disk = s.store.disk;
    const fsFree =
      sys.disk.totalBytes && sys.disk.freeBytes !== null
        ? ` · file system ${bytes(sys.disk.freeBytes)} free of ${bytes(sys.disk.totalBytes)}`
        : '';
    const gpu = sys.gpu.length
      ? sys.gpu
          .map(
            (g) =>
              `${g.model}${g.utilizationPercent !== null ? ` ${g.utilizationPercent} %` : ''}${g.memoryTotalMB !== null ? ` · ${g.memoryTotalMB} MB` : ''}`,
          )
          .join('; ')
      : 'none found';
    const rows: [string, string, string][] = [
      [
        'broker',
        'Broker',
        s.mqtt.connected
          ? `connected · ${s.mqtt.url}`
          : `disconnected · ${s.mqtt.url}${s.mqtt.lastError ? ` · ${s.mqtt.lastError}` : ''}`,
      ],
      [
        'backlog',
        'Backlog',
        `${s.store.backlog} to deliver · ${s.mqtt.inFlight} in flight · last seq ${s.store.lastSeq}`,
      ],
      [
        'disk',
        'Disk',
        `${bytes(disk.totalBytes)} of ${bytes(disk.budgetBytes)} (${pct(disk.budgetBytes ? disk.totalBytes / disk.budgetBytes : null, 0)})${fsFree}`,
      ],
      [
        'cpu',
        'CPU',
        sys.cpu.loadPercent === null ? '–' : `${sys.cpu.loadPercent} % of ${sys.cpu.cores ?? '?'} cores`,
      ],
      [
        'memory',
        'Memory',
        `${bytes(sys.memory.usedBytes)} of ${bytes(sys.memory.totalBytes)} · agent ${bytes(sys.memory.processRssBytes)}`,
      ],
      [
        'temperature',
        'Temperature',
        sys.temperature.cpuC === null ? 'not reported here' : `${sys.temperature.cpuC} °C`,
      ],
      ['gpu', 'GPU', gpu],
    ];
    for (const [key, label, text] of rows) {
      let dd = this.figures.querySelector<HTMLElement>(`dd.${key}`);
      if (!dd) {
        dd = el('dd', { class: key });
        this.figures.append(el('dt', {}, label), dd);
      }
      setText(dd, text);
      if (key === 'broker') dd.dataset.state = s.mqtt.connected ? 'up' : 'down';
    }
    const bar = byId<HTMLProgressElement>('disk-bar');
    bar.max = disk.budgetBytes || 1;
    bar.value = disk.totalBytes;
  }

  history(h: History): void {
    this.loadChart.update(h.t, [h.agent.cpuPercent, h.agent.temperatureC]);
    const mem = h.agent.memoryUsedBytes.map((v) => (v === null ? null : Math.round(v / (1024 * 1024))));
    this.backlogChart.update(h.t, [h.agent.backlog, mem]);
  }
}

/** The problems list, critical first (the agent sorts it), each with how long it has been there. */
export function renderProblems(problems: Problem[]): void {
  const list = byId('problems');
  clear(list);
  byId('problems-section').dataset.count = String(problems.length);
  if (problems.length === 0) {
    list.append(el('li', { class: 'none' }, 'No problems.'));
    return;
  }
  for (const p of problems) {
    const scope = p.cameraId ?? p.modelId;
    list.append(
      el(
        'li',
        { class: `problem ${p.severity}`, 'data-code': p.code },
        el('span', { class: 'badge' }, p.severity),
        el('strong', {}, p.code),
        scope ? el('span', { class: 'scope' }, scope) : null,
        el('span', { class: 'message' }, p.message),
        p.since ? el('span', { class: 'since' }, `since ${ago(p.since)}`) : null,
      ),
    );
  }
}
