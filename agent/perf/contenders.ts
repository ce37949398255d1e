import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { endProcess, type Seen, subscribeDecisions } from './agent-run.js';
import { waitFor } from './broker.js';
import type { LimitJob } from './limit-script.js';
import type { PlainJob, PlainSteps } from './plain-script.js';
import { nodeArgsFor } from './scripts.js';

/** A process started for its turns: its pid, and the output it gave so far (for a failure's message). */
interface Started {
  proc: ChildProcess;
  pid: number;
  output: () => string;
}

const START_TIMEOUT_MS = 120_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startScript(
  which: 'plain' | 'limit',
  job: object,
  dir: string,
  onStdout?: (d: Buffer) => void,
): Started {
  const jobFile = join(dir, `${which}-job.json`);
  writeFileSync(jobFile, JSON.stringify(job));
  const proc = spawn(process.execPath, [...nodeArgsFor(which), jobFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  proc.stdout?.on('data', (d: Buffer) => {
    if (onStdout) onStdout(d);
    else text += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  if (proc.pid === undefined) throw new Error(`the ${which} script did not start`);
  return { proc, pid: proc.pid, output: () => text };
}

/** Waits for `first` while the process lives, then lets it run `warmupSeconds` more. */
async function warmUp(s: Started, what: string, first: () => boolean, warmupSeconds: number): Promise<void> {
  await waitFor(
    () => {
      if (s.proc.exitCode !== null)
        throw new Error(`${what} exited (${s.proc.exitCode}): ${s.output().trim()}`);
      return first();
    },
    START_TIMEOUT_MS,
    `${what}'s first frame`,
  );
  await sleep(warmupSeconds * 1000);
}

/** The plain script, its decisions counted by a consumer; `finish` ends it and reads its steps' medians. */
export async function startPlain(
  job: PlainJob,
  dir: string,
  warmupSeconds: number,
): Promise<{ pid: number; seen: Seen[]; finish: () => Promise<PlainSteps> }> {
  // the broker forwards the plain script's decisions to a consumer too, as it does the agent's
  const consumer = await subscribeDecisions(job.brokerUrl, job.topic);
  const s = startScript('plain', job, dir);
  const finish = async () => {
    await endProcess(s.proc);
    await consumer.end();
    const line = s.output().trim().split('\n').at(-1) ?? '';
    try {
      return JSON.parse(line) as PlainSteps;
    } catch {
      throw new Error(`the plain script said: ${s.output().trim()}`);
    }
  };
  try {
    await warmUp(s, 'the plain script', () => consumer.seen.length > 0, warmupSeconds);
  } catch (err) {
    await finish().catch(() => undefined);
    throw err;
  }
  return { pid: s.pid, seen: consumer.seen, finish };
}

/** The pipelined limit (limit-script.ts): one byte on its stdout per frame, noted with its arrival time. */
export async function startLimit(
  job: LimitJob,
  dir: string,
  warmupSeconds: number,
): Promise<{ pid: number; frames: number[]; finish: () => Promise<void> }> {
  const frames: number[] = [];
  const s = startScript('limit', job, dir, (d) => {
    const at = Date.now();
    for (let i = 0; i < d.length; i++) frames.push(at);
  });
  const finish = () => endProcess(s.proc);
  try {
    await warmUp(s, 'the limit script', () => frames.length > 0, warmupSeconds);
  } catch (err) {
    await finish();
    throw err;
  }
  return { pid: s.pid, frames, finish };
}
