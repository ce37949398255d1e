import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Test } from 'tap';

/**
 * The chaos campaign's shared knobs (docs/reliability.md). Every scenario reads `CHAOS_SCALE`: `full` is the
 * campaign of issue 16 (50 kills, 100k decisions, 10k fuzz cases, a 30-minute soak), `ci` (the default) a
 * reduced version of every scenario that CI runs after `npm test` in under 8 minutes on an idle 2-core box.
 */
export type Scale = 'ci' | 'full';
export const SCALE: Scale = process.env.CHAOS_SCALE === 'full' ? 'full' : 'ci';

export function scaled<T>(ci: T, full: T): T {
  return SCALE === 'full' ? full : ci;
}

/** A seeded PRNG (mulberry32), so a failing run can be replayed with `CHAOS_SEED=<n>`. */
export function rng(seed = Number(process.env.CHAOS_SEED ?? Date.now() % 2 ** 31)) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T,
    bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))),
  };
}

export const FIGURES_DIR = process.env.CHAOS_FIGURES_DIR ?? join(tmpdir(), 'eva-chaos-figures');

/**
 * Records a scenario's figures (faults injected, decisions checked, lost, ...) as JSON in FIGURES_DIR and in
 * the TAP output; `npm run chaos:report` prints them all as the table of docs/reliability.md.
 */
export function recordFigures(t: Test, scenario: string, figures: Record<string, unknown>): void {
  const body = { scenario, scale: SCALE, at: new Date().toISOString(), ...figures };
  mkdirSync(FIGURES_DIR, { recursive: true });
  writeFileSync(join(FIGURES_DIR, `${scenario}.json`), `${JSON.stringify(body, null, 2)}\n`);
  t.comment(`figures ${JSON.stringify(body)}`);
}

export function readAllFigures(): Record<string, unknown>[] {
  let names: string[] = [];
  try {
    names = readdirSync(FIGURES_DIR).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.sort().map((n) => JSON.parse(readFileSync(join(FIGURES_DIR, n), 'utf8')));
}

/** `PRAGMA integrity_check` on a store the agent is not running on (it may have been SIGKILLed). */
export function integrityCheck(dbPath: string): string {
  const db = new BetterSqlite3(dbPath, { fileMustExist: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

export function storedDecisions(dbPath: string): { seq: number; id: string }[] {
  const db = new BetterSqlite3(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT seq, id FROM decisions ORDER BY seq').all() as { seq: number; id: string }[];
  } finally {
    db.close();
  }
}

/** Checks a consumer's view of one agent: every seq 1..last arrived, and a seq seen twice carries one id. */
export function deliveryProblems(
  published: readonly { seq: number; id: string }[],
  last: number,
): { missing: number[]; conflicting: number[]; duplicates: number } {
  const bySeq = new Map<number, Set<string>>();
  for (const d of published) {
    const ids = bySeq.get(d.seq) ?? new Set<string>();
    ids.add(d.id);
    bySeq.set(d.seq, ids);
  }
  const missing: number[] = [];
  for (let s = 1; s <= last; s++) if (!bySeq.has(s)) missing.push(s);
  const conflicting = [...bySeq].filter(([, ids]) => ids.size > 1).map(([s]) => s);
  return {
    missing: missing.slice(0, 20),
    conflicting: conflicting.slice(0, 20),
    duplicates: published.length - bySeq.size,
  };
}

/** Resident memory (kB) and open file descriptors of a process, from /proc. */
export function procUsage(pid: number): { rssKB: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssKB, fds: readdirSync(`/proc/${pid}/fd`).length };
}
