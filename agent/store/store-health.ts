import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AlertSink } from '../alerts.js';
import { LogLimit } from '../log-limit.js';
import type { Clock, Service, TimerHandle } from '../service.js';
import type { DecisionStore } from './decision-store.js';
import type { DiskBudget, DiskUsage } from './disk-budget.js';
import type { SeqRewind } from './seq-guard.js';
import type { WriteFault } from './write-faults.js';

/** One entry of `problems[]` (health/StatusService's `Problem`, which reads it). */
export interface StoreProblem {
  code: string;
  severity: 'warning' | 'critical';
  message: string;
}

/**
 * While a write fails (or verdicts are held), recovery is tried this often: free space, probe, store the
 * held verdicts. Often enough that a disk given room again is used within a second or two; each try is a
 * few statements.
 */
export const RECOVER_PERIOD_MS = 1_000;
/** The WAL file is looked at this often: a deleted WAL is saved into the database within about a second. */
const WAL_WATCH_MS = 1_000;
/** A failing store says so in the log at most once per this window per kind (the rest are counted). */
const LOG_WINDOW_MS = 60_000;

export interface StoreHealthDeps {
  store: DecisionStore;
  budget: DiskBudget;
  alerts: AlertSink;
  clock: Clock;
  log: Logger;
  /** Frees space, stores held verdicts, probes: one try. Storage's. */
  recover: () => void;
  /** Verdicts held in memory now (Storage's hold). */
  held: () => number;
}

/**
 * What the store says about its health, and the one owner of its alerts (issue 16): `DISK_FULL` (the disk
 * budget is exhausted by undelivered decisions, or the disk itself refuses a write), `STORE_UNWRITABLE` (a
 * write fails: an I/O error, an immutable or read-only file, EACCES, EROFS) and `STORE_SEQ_REWOUND` (the
 * database lost decisions: its last seq fell below the highest handed out). Raised and cleared on change
 * only; logged through a rate limit (a full disk fails every frame); shown in `/readyz` and `problems[]`.
 * While anything fails it tries to recover every RECOVER_PERIOD_MS, and it watches the WAL file: a WAL
 * deleted while the agent runs is saved into the database at once.
 */
export class StoreHealth implements Service {
  readonly name = 'store-health';
  private recoverTimer: TimerHandle | undefined;
  private walTimer: TimerHandle | undefined;
  private walIno: number | undefined;
  private walRebinds = 0;
  private readonly logLimit = new LogLimit({ windowMs: LOG_WINDOW_MS });
  private readonly active = new Set<string>();
  private started = false;

  constructor(private readonly deps: StoreHealthDeps) {}

  /** Listens to the store's faults, the budget and the seq guard; called once, when Storage opens. */
  attach(): void {
    const { store, budget } = this.deps;
    store.faults.onChange((faults) => this.onFaults(faults));
    budget.onFullChange((full, usage) => this.onBudget(full, usage));
    store.seqGuard.onRewind((r) => this.onRewind(r));
  }

  async start(): Promise<void> {
    this.started = true;
    this.walIno = this.walInode();
    this.walTimer = this.deps.clock.setInterval(() => this.watchWal(), WAL_WATCH_MS);
    if (this.needsRecovery()) this.scheduleRecovery();
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.walTimer !== undefined) this.deps.clock.clearInterval(this.walTimer);
    if (this.recoverTimer !== undefined) this.deps.clock.clearTimeout(this.recoverTimer);
    this.walTimer = undefined;
    this.recoverTimer = undefined;
  }

  /** `/readyz` reasons: a store that cannot write, verdicts not yet stored. */
  reasons(): string[] {
    const out: string[] = [];
    for (const f of this.deps.store.faults.list()) out.push(`store cannot write (${describeFault(f)})`);
    const held = this.deps.held();
    if (held > 0) out.push(`${held} verdicts held in memory, not yet stored`);
    return out;
  }

  problems(): StoreProblem[] {
    const out: StoreProblem[] = [];
    const { store, budget } = this.deps;
    const faults = store.faults.list();
    const full = faults
      .filter((f) => f.kind === 'full')
      .map((f) => `the store cannot write: ${describeFault(f)}`);
    // one DISK_FULL, whichever way the disk ran out (a refused write, the budget, or both)
    if (budget.isFull) {
      full.push(
        'store.maxDiskMB (or the disk) is taken by undelivered decisions: verdicts are recorded, images are not',
      );
    }
    if (this.diskTight) full.push('the disk has too little free room yet: delivered data is being freed');
    if (full.length > 0) out.push({ code: 'DISK_FULL', severity: 'critical', message: full.join('; ') });
    const unwritable = faults.filter((f) => f.kind === 'unwritable');
    if (unwritable.length > 0) {
      out.push({
        code: 'STORE_UNWRITABLE',
        severity: 'critical',
        message: `the store cannot write: ${unwritable.map(describeFault).join('; ')}`,
      });
    }
    const held = this.deps.held();
    if (held > 0) {
      out.push({
        code: 'DECISIONS_HELD',
        severity: 'critical',
        message: `${held} verdicts are held in memory (answered, degraded) until the store can write them`,
      });
    }
    const rewind = store.seqGuard.rewind;
    if (rewind) out.push({ code: 'STORE_SEQ_REWOUND', severity: 'critical', message: rewindMessage(rewind) });
    return out;
  }

  snapshot() {
    return {
      writable: !this.deps.store.faults.has(),
      faults: this.deps.store.faults.list(),
      held: this.deps.held(),
      seq: { handedOut: this.deps.store.seqGuard.handedOut, rewind: this.deps.store.seqGuard.rewind },
      walRebinds: this.walRebinds,
    };
  }

  /** Writes fail, verdicts wait, or the disk has no room yet: recovery runs until none holds. */
  needsRecovery(): boolean {
    return this.deps.store.faults.has() || this.deps.held() > 0 || this.active.has('DISK_FULL');
  }

  /** Something changed that recovery should look at soon (a verdict was held). */
  scheduleRecovery(): void {
    if (!this.started || this.recoverTimer !== undefined) return;
    this.recoverTimer = this.deps.clock.setTimeout(() => {
      this.recoverTimer = undefined;
      if (!this.deps.store.isOpen) return;
      try {
        this.deps.recover();
      } catch (err) {
        this.limitedLog('recover', 'error', { err }, 'store recovery failed; trying again');
      }
      this.refreshDiskFull();
      if (this.needsRecovery()) this.scheduleRecovery();
    }, RECOVER_PERIOD_MS);
  }

  private onFaults(faults: readonly WriteFault[]): void {
    const full = faults.filter((f) => f.kind === 'full');
    const unwritable = faults.filter((f) => f.kind === 'unwritable');
    if (full.length > 0) {
      this.limitedLog('full', 'error', { faults: full }, 'the store cannot write: disk full');
    }
    this.refreshDiskFull(
      full.length > 0
        ? `the store cannot write, the disk is full (${full.map(describeFault).join('; ')}); freeing space, verdicts are held in memory meanwhile`
        : undefined,
    );
    if (unwritable.length > 0) {
      this.limitedLog('unwritable', 'error', { faults: unwritable }, 'the store cannot write');
    }
    this.setAlert(
      'STORE_UNWRITABLE',
      unwritable.length > 0,
      unwritable.length > 0
        ? `the store cannot write (${unwritable.map(describeFault).join('; ')}): verdicts are answered degraded and held in memory; check the disk and the permissions of the store's files`
        : 'the store writes again',
    );
    if (this.needsRecovery()) this.scheduleRecovery();
  }

  private onBudget(full: boolean, usage: DiskUsage): void {
    const mb = (b: number) => (b / (1024 * 1024)).toFixed(1);
    this.refreshDiskFull(
      full
        ? `store.maxDiskMB reached (${mb(usage.totalBytes)} of ${mb(usage.budgetBytes)} MB) and only undelivered decisions remain: verdicts are still recorded, images are not; restore delivery (broker) or raise store.maxDiskMB`
        : undefined,
      'the store is back within store.maxDiskMB; images are stored again',
    );
  }

  /**
   * DISK_FULL has three sources and one alert: a write refused for room, the budget exhausted by
   * undelivered data, and, once raised, a disk without the room to end it (DiskBudget.diskHasRoom: a disk
   * filled by another program that the store got a little room on by dropping its own data clears
   * nothing). Raised with the first source's message, cleared once none holds.
   */
  private refreshDiskFull(raiseMessage?: string, clearMessage = 'the store writes again'): void {
    const { store, budget } = this.deps;
    const wasActive = this.active.has('DISK_FULL');
    const active = store.faults.has('full') || budget.isFull || (wasActive && !budget.diskHasRoom());
    if (!active && wasActive) budget.noteRoom();
    this.setAlert(
      'DISK_FULL',
      active,
      active ? (raiseMessage ?? 'the disk is full; freeing space') : clearMessage,
    );
  }

  /** DISK_FULL still raised while nothing fails any more: the disk lacks room; recovery frees synced data. */
  get diskTight(): boolean {
    return this.active.has('DISK_FULL') && !this.deps.store.faults.has('full') && !this.deps.budget.isFull;
  }

  private onRewind(r: SeqRewind): void {
    this.deps.log.error({ rewind: r }, rewindMessage(r));
    this.deps.alerts.raise({
      code: 'STORE_SEQ_REWOUND',
      severity: 'critical',
      active: true,
      message: rewindMessage(r),
    });
  }

  /** Raised and cleared on change only. */
  private setAlert(code: string, active: boolean, message: string): void {
    if (active === this.active.has(code)) return;
    if (active) this.active.add(code);
    else this.active.delete(code);
    this.deps.alerts.raise({ code, severity: 'critical', active, message });
  }

  private limitedLog(key: string, level: 'error' | 'warn', fields: object, message: string): void {
    const d = this.logLimit.take(key, this.deps.clock.now());
    if (!d.write) return;
    this.deps.log[level]({ ...fields, ...(d.held > 0 ? { suppressed: d.held } : {}) }, message);
  }

  private walInode(): number | undefined {
    try {
      return statSync(`${this.deps.store.path}-wal`).ino;
    } catch {
      return undefined;
    }
  }

  /** A WAL that vanished or was replaced under the running store: its writes are saved at once. */
  private watchWal(): void {
    const { store } = this.deps;
    if (!store.isOpen || store.path === ':memory:') return;
    const ino = this.walInode();
    if (this.walIno === undefined || ino === this.walIno) {
      this.walIno ??= ino;
      this.checkWalGrowth();
      return;
    }
    this.deps.log.error(
      { path: `${store.path}-wal` },
      "the store's WAL file was deleted or replaced while the agent ran: saving its writes into the database",
    );
    if (this.rebindWal()) this.walRebinds += 1;
    this.walIno = this.walInode();
  }

  /**
   * The WAL file the connection writes is no longer the one at `<path>-wal`: what was written since the
   * last checkpoint lives only in a file no restart would read. The connection still holds the old file
   * open, so a checkpoint copies it into the database; leaving WAL mode and entering it again then makes a
   * fresh WAL file at the path. True when done.
   */
  private rebindWal(): boolean {
    const { store } = this.deps;
    try {
      store.db.pragma('wal_checkpoint(TRUNCATE)');
      store.db.pragma('journal_mode = DELETE');
      store.db.pragma('journal_mode = WAL');
      store.faults.note('checkpoint');
      return true;
    } catch (err) {
      store.faults.note('checkpoint', err);
      this.deps.log.error({ err }, 'cannot save the writes of a deleted WAL into the database');
      return false;
    }
  }

  /**
   * A WAL far past its checkpoint size means checkpoints fail (the database file itself is not writable
   * while the WAL is): one is run here, so the fault is seen within a second, not at the next periodic one.
   */
  private checkWalGrowth(): void {
    const { store, budget } = this.deps;
    let size = 0;
    try {
      size = statSync(`${store.path}-wal`).size;
    } catch {
      return;
    }
    if (size <= 2 * budget.walLimitBytes && !store.faults.list().some((f) => f.op === 'checkpoint')) return;
    try {
      store.checkpoint();
    } catch {
      // noted by the store (its faults): the alert and the readiness reason say it
    }
  }
}

function describeFault(f: WriteFault): string {
  return `${f.op}: ${f.error}`;
}

function rewindMessage(r: SeqRewind): string {
  const n = r.to - r.from + 1;
  return (
    `the store lost ${n} decision(s), seq ${r.from}..${r.to} (found ${r.where === 'start' ? 'at start' : 'while running'}: ` +
    `its WAL was deleted or the disk lost writes); the plant had acknowledged decisions up to seq ${r.ackedUpTo}; ` +
    `numbering continues at ${r.to + 1}, no seq is reused`
  );
}
