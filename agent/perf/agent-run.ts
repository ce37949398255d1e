import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { freePort, waitFor } from './broker.js';
import { nodeArgsFor } from './scripts.js';
import { round } from './stats.js';

/**
 * The agent end to end, as a plant runs it: `edge-agent run` as a process of its own, folder cameras
 * replaying the frames (`loop: true`), decisions stored in its SQLite store and published to the broker,
 * where a subscriber in the bench notes when each arrives (the decision carries its own `triggeredAt`: when
 * the camera took the frame). Its event-loop lag comes from its `/metrics` (`eva_event_loop_lag_p99_seconds`).
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
}

/** A decision as the consumer saw it (the plain script's carry the same fields). */
export interface Seen {
  /** Date.now() when it arrived */
  at: number;
  triggeredAt: number;
  decidedAt: number;
  verdict: string;
  degraded: boolean;
  latencyMs?: { queue: number; preprocess: number; inference: number; total: number };
}

/** A running agent: its pid, what its consumer has seen, its event-loop window, and how to stop it. */
export interface AgentHandle {
  pid: number;
  seen: Seen[];
  /** Scrapes /metrics: closes the event-loop window opened by the previous call and opens the next. */
  loopLag(): Promise<{ p99: number; max: number }>;
  stop(): Promise<void>;
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

/** SIGTERM (after a SIGCONT: a stopped process cannot act on it), SIGKILL if it does not exit in time. */
export async function endProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGCONT');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

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
      ...(d.latencyMs ? { latencyMs: d.latencyMs } : {}),
    });
  });
  await sub.subscribeAsync(filter, { qos: 1 });
  return { seen, end: () => sub.endAsync() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the agent and returns once it is ready, has published a decision and has run `warmupSeconds`. */
export async function startAgent(spec: AgentRunSpec): Promise<AgentHandle> {
  const port = await freePort();
  const topicRoot = `bench/run-${process.pid}-${Date.now()}`;
  const configPath = join(spec.workDir, 'agent.yaml');
  writeFileSync(configPath, configFor(spec, port, topicRoot));
  const consumer = await subscribeDecisions(spec.brokerUrl, `${topicRoot}/decisions/+`);
  const logFile = join(spec.workDir, 'agent.log');
  const out = openSync(logFile, 'a');
  // the agent logs to a file, as under systemd: nothing the bench does can hold up its stdout
  const proc = spawn(process.execPath, [...nodeArgsFor('agent'), 'run', '-c', configPath], {
    stdio: ['ignore', out, out],
    env: { ...process.env, EDGE_AGENT_CONFIG: configPath },
  });
  closeSync(out);
  const stop = async () => {
    await endProcess(proc);
    await consumer.end();
  };
  try {
    const pid = proc.pid;
    if (pid === undefined) throw new Error('the agent did not start');
    // every wait also watches the process: an agent that exits is reported with its last log lines
    const alive =
      <T>(check: () => T | Promise<T>) =>
      async () => {
        if (proc.exitCode !== null) {
          throw new Error(`the agent exited (${proc.exitCode}):\n${logTail(logFile)}`);
        }
        return check();
      };
    await waitFor(
      alive(() => ready(port)),
      READY_TIMEOUT_MS,
      'the agent to be ready',
    );
    await waitFor(
      alive(() => consumer.seen.length > 0),
      FIRST_DECISION_TIMEOUT_MS,
      'its first decision',
    );
    await sleep(spec.warmupSeconds * 1000);
    await alive(() => true)();
    return {
      pid,
      seen: consumer.seen,
      loopLag: async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        const value = (name: string) =>
          Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) * 1000;
        return {
          p99: value('eva_event_loop_lag_p99_seconds'),
          max: value('eva_event_loop_lag_max_seconds'),
        };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
