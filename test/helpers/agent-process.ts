import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from './net.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const BIN = join(REPO, 'bin/edge-agent.js');
export const WASHER_MODEL = join(REPO, 'models/washer/model.onnx');
export const SLOW_MODEL = join(REPO, 'test/fixtures/models/slow/model.onnx');
export const SAMPLES = join(REPO, 'samples/washer');

export function tempDir(prefix = 'eva-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface AgentProcess {
  proc: ChildProcess;
  output: () => string;
  logs: () => Record<string, unknown>[];
  waitForLog: (
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ) => Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Spawns the built binary (`bin/edge-agent.js`, as a plant runs it) with a config written to `dir`. */
export function spawnAgent(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): AgentProcess {
  const proc = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, LOG_LEVEL: 'debug', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const logs = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  return {
    proc,
    output: () => out,
    logs,
    waitForLog: (match, timeoutMs = 20_000) =>
      waitFor(() => logs().find(match), timeoutMs, 'an agent log line'),
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export function writeConfig(dir: string, yaml: string): string {
  const path = join(dir, 'agent.yaml');
  writeFileSync(path, yaml);
  return path;
}
