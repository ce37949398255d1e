import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time and memory of a process from /proc (Linux): utime + stime of the whole process and of its main
 * thread (the thread whose id is the pid: the event loop), per thread by name, and VmRSS.
 */
export interface ProcSample {
  at: number;
  processMs: number;
  mainMs: number;
  rssBytes: number;
  /** CPU ms per thread name (worker threads, libuv's pool, onnxruntime's threads ...), summed by name. */
  threads: Record<string, number>;
}

let ticksPerSecond: number | undefined;

/** USER_HZ: 100 on every Linux seen; asked of getconf once. */
function hz(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime in ms, and the name, of one /proc stat file (the name may hold spaces and parentheses). */
function readStat(path: string): { ms: number; name: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined; // a thread that ended between the listing and the read
  }
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  // after the name: state is field 3 of proc(5), so utime (14) and stime (15) are at 11 and 12
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { ms: (ticks * 1000) / hz(), name: text.slice(open + 1, close) };
}

function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : Number.NaN;
}

export function sampleProcess(pid: number): ProcSample {
  const whole = readStat(`/proc/${pid}/stat`);
  const main = readStat(`/proc/${pid}/task/${pid}/stat`);
  if (!whole || !main) throw new Error(`process ${pid} is gone`);
  const threads: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const t = readStat(`/proc/${pid}/task/${tid}/stat`);
    if (!t) continue;
    const name = tid === String(pid) ? `${t.name} (main)` : t.name;
    threads[name] = (threads[name] ?? 0) + t.ms;
  }
  return { at: performance.now(), processMs: whole.ms, mainMs: main.ms, rssBytes: readRss(pid), threads };
}

/** What a process spent between two samples. Thread totals of threads that ended meanwhile are lost. */
export function cpuBetween(
  a: ProcSample,
  b: ProcSample,
): {
  processMs: number;
  mainMs: number;
  wallMs: number;
  threads: Record<string, number>;
} {
  const threads: Record<string, number> = {};
  for (const [name, ms] of Object.entries(b.threads)) {
    const d = ms - (a.threads[name] ?? 0);
    if (d > 0) threads[name] = d;
  }
  return { processMs: b.processMs - a.processMs, mainMs: b.mainMs - a.mainMs, wallMs: b.at - a.at, threads };
}
