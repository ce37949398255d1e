import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { freePort, waitFor } from './broker.js';
import { cpuBetween, type ProcSample, sampleProcess } from './proc-stat.js';
import { nodeArgsFor } from './scripts.js';
import { round, type Spread, spread } from './stats.js';

/**
 * The agent end to end, as a plant runs it: `edge-agent run` as a process of its own, folder cameras
 * replaying the frames (`loop: true`), decisions stored in its SQLite store and published to the broker,
 * where a subscriber in the bench counts them and times each one from the decision's own `triggeredAt`
 * (when the camera took the frame) to its arrival. CPU time and memory come from /proc, the event-loop lag
 * from the agent's `/metrics` (`eva_event_loop_lag_p99_seconds`, over the measured window).
 */
export interface AgentRunSpec {
  modelId: string;
  modelPath: string;
  manifest?: string | undefined;
  framesDir: string;
  cameras: number;
  /** per camera: continuous, or an interval trigger at this many frames/s */
  intervalFps?: number | undefined;
  workers: number;
  intraOpThreads: number;
  brokerUrl: string;
  workDir: string;
  warmupSeconds: number;
  seconds: number;
}

export interface AgentRunFigures {
  cameras: number;
  trigger: 'continuous' | 'interval';
  /** interval triggers: the rate asked for, all cameras together */
  offeredFps: number | null;
  decisions: number;
  fps: number;
  /** decision.triggeredAt -> arrival at the subscriber */
  latencyMs: Spread;
  /** decision.triggeredAt -> decision.decidedAt (the verdict, before it is stored and published) */
  decideMs: Spread;
  loopLagMs: { p99: number; max: number };
  cpuMsPerDecision: { process: number; main: number };
  rssMB: { start: number; end: number };
  /** means of the decisions' own latencyMs (the agent's view of where a frame's time went) */
  stagesMs: { queue: number; preprocess: number; inference: number; total: number };
  verdicts: Record<string, number>;
  degraded: number;
  /** CPU ms per decision by thread name (main thread, inference workers, libuv pool, onnxruntime ...) */
  threadsMsPerDecision: Record<string, number>;
}

export interface Seen {
  at: number;
  triggeredAt: number;
  decidedAt: number;
  verdict: string;
  degraded: boolean;
  latencyMs: { queue: number; preprocess: number; inference: number; total: number };
}

const READY_TIMEOUT_MS = 180_000;
const FIRST_DECISION_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

function configFor(spec: AgentRunSpec, port: number, topicRoot: string): string {
  const trigger = spec.intervalFps
    ? { type: 'interval', fps: round(spec.intervalFps, 3) }
    : { type: 'continuous' };
  const config = {
    agent: { id: 'bench' },
    store: { path: join(spec.workDir, 'agent.db'), imagesDir: join(spec.workDir, 'images') },
    mqtt: { url: spec.brokerUrl, topicRoot, format: 'json' },
    health: { listen: `127.0.0.1:${port}` },
    models: [
      {
        id: spec.modelId,
        path: spec.modelPath,
        ...(spec.manifest ? { manifest: spec.manifest } : {}),
        providers: ['cpu'],
        workers: spec.workers,
        intraOpThreads: spec.intraOpThreads,
      },
    ],
    cameras: Array.from({ length: spec.cameras }, (_, i) => ({
      id: `cam-${i + 1}`,
      source: { type: 'folder', path: spec.framesDir, loop: true },
      trigger,
      model: spec.modelId,
    })),
  };
  return stringify(config);
}

async function scrape(port: number): Promise<{ lagP99: number; lagMax: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    lagP99: value('eva_event_loop_lag_p99_seconds') * 1000,
    lagMax: value('eva_event_loop_lag_max_seconds') * 1000,
  };
}

async function ready(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
  } catch {
    return false;
  }
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A plant's consumer: subscribed at QoS 1 before anything publishes, it notes when each decision arrives
 * (the bench process does nothing else meanwhile, so its clock reads the arrival, not its own work).
 */
export async function subscribeDecisions(
  brokerUrl: string,
  filter: string,
): Promise<{ seen: Seen[]; end: () => Promise<void> }> {
  const seen: Seen[] = [];
  const sub = await mqtt.connectAsync(brokerUrl, { clientId: `bench-sub-${process.pid}-${Date.now()}` });
  sub.on('message', (_topic, payload) => {
    const d = JSON.parse(payload.toString('utf8')) as Omit<Seen, 'at'>;
    seen.push({
      at: Date.now(),
      triggeredAt: d.triggeredAt,
      decidedAt: d.decidedAt,
      verdict: d.verdict,
      degraded: d.degraded,
      latencyMs: d.latencyMs,
    });
  });
  await sub.subscribeAsync(filter, { qos: 1 });
  return { seen, end: () => sub.endAsync() };
}

export async function runAgent(spec: AgentRunSpec): Promise<AgentRunFigures> {
  const port = await freePort();
  const topicRoot = `bench/run-${process.pid}-${Date.now()}`;
  const configPath = join(spec.workDir, 'agent.yaml');
  writeFileSync(configPath, configFor(spec, port, topicRoot));
  const { seen, end: endSubscription } = await subscribeDecisions(spec.brokerUrl, `${topicRoot}/decisions/+`);
  const logFile = join(spec.workDir, 'agent.log');
  const out = openSync(logFile, 'a');
  // the agent logs to a file, as under systemd: nothing the bench does can hold up its stdout
  const proc = spawn(process.execPath, [...nodeArgsFor('agent'), 'run', '-c', configPath], {
    stdio: ['ignore', out, out],
    env: { ...process.env, EDGE_AGENT_CONFIG: configPath },
  });
  closeSync(out);
  const pid = proc.pid;
  try {
    if (pid === undefined) throw new Error('the agent did not start');
    // every wait also watches the process: an agent that exits is reported with its last log lines
    const alive =
      <T>(check: () => T | Promise<T>) =>
      async () => {
        if (proc.exitCode !== null)
          throw new Error(`the agent exited (${proc.exitCode}):\n${logTail(logFile)}`);
        return check();
      };
    await waitFor(
      alive(() => ready(port)),
      READY_TIMEOUT_MS,
      'the agent to be ready',
    );
    await waitFor(
      alive(() => seen.length > 0),
      FIRST_DECISION_TIMEOUT_MS,
      'its first decision',
    );
    await sleep(spec.warmupSeconds * 1000);
    await scrape(port); // opens the event-loop window
    const from = seen.length;
    const start: ProcSample = sampleProcess(pid);
    await sleep(spec.seconds * 1000);
    const end = sampleProcess(pid);
    const lag = await scrape(port);
    const window = seen.slice(from, seen.length);
    await alive(() => true)();
    return figures(spec, window, start, end, lag);
  } finally {
    await stop(proc);
    await endSubscription();
  }
}

function figures(
  spec: AgentRunSpec,
  window: Seen[],
  start: ProcSample,
  end: ProcSample,
  lag: { lagP99: number; lagMax: number },
): AgentRunFigures {
  const cpu = cpuBetween(start, end);
  const n = Math.max(1, window.length);
  const per = (v: number) => round(v / n);
  const verdicts: Record<string, number> = {};
  for (const d of window) verdicts[d.verdict] = (verdicts[d.verdict] ?? 0) + 1;
  const mean = (key: keyof Seen['latencyMs']) =>
    round(window.reduce((s, d) => s + (d.latencyMs?.[key] ?? 0), 0) / n);
  return {
    cameras: spec.cameras,
    trigger: spec.intervalFps ? 'interval' : 'continuous',
    offeredFps: spec.intervalFps ? round(spec.intervalFps * spec.cameras, 1) : null,
    decisions: window.length,
    fps: round((window.length * 1000) / cpu.wallMs, 1),
    latencyMs: spread(window.map((d) => d.at - d.triggeredAt)),
    decideMs: spread(window.map((d) => d.decidedAt - d.triggeredAt)),
    loopLagMs: { p99: round(lag.lagP99), max: round(lag.lagMax) },
    cpuMsPerDecision: { process: per(cpu.processMs), main: per(cpu.mainMs) },
    rssMB: { start: round(start.rssBytes / 2 ** 20, 1), end: round(end.rssBytes / 2 ** 20, 1) },
    stagesMs: {
      queue: mean('queue'),
      preprocess: mean('preprocess'),
      inference: mean('inference'),
      total: mean('total'),
    },
    verdicts,
    degraded: window.filter((d) => d.degraded).length,
    threadsMsPerDecision: Object.fromEntries(
      Object.entries(cpu.threads)
        .sort((a, b) => b[1] - a[1])
        .map(([name, ms]) => [name, per(ms)]),
    ),
  };
}
