import type { DecisionStore } from './decision-store.js';
import type { DiskBudget } from './disk-budget.js';
import type { HeldDecisions } from './held-decisions.js';
import type { Pruner } from './pruner.js';
import type { ReserveFile } from './reserve-file.js';
import type { StoreHealth } from './store-health.js';

/**
 * On a full disk a verdict frees at most this many steps inline before it is held, and a recovery try this
 * many before it gives the event loop back (tried again later).
 */
export const MAX_INLINE_FREES = 20;

export interface RecoveryParts {
  store: DecisionStore;
  budget: DiskBudget;
  pruner: Pruner;
  held: HeldDecisions;
  reserve: ReserveFile;
  health: StoreHealth;
  /** The reserve file's size now (it depends on the file system's). */
  reserveSize: () => number;
}

/**
 * One recovery try (StoreHealth calls it, through Storage, while writes fail or verdicts are held): on a
 * full disk free a step at a time until a write like a decision's goes through; store held verdicts;
 * delete image rows whose files were freed; make the reserve again once the disk has room for it twice over.
 */
export function recoverStore(p: RecoveryParts): void {
  const { store, budget, pruner, held, reserve } = p;
  // acknowledgements that fail for room while nothing delivered can go: the reserve is for this
  const ackFull = store.faults.list().some((f) => f.op === 'ack' && f.kind === 'full');
  if (ackFull) budget.releaseReserve('writing acknowledgements needs room');
  let writable = store.probe();
  for (let i = 0; !writable && store.faults.has('full') && i < MAX_INLINE_FREES; i++) {
    if (!budget.freeSome({ releaseReserve: ackFull })) break;
    writable = store.probe();
  }
  // the disk without room (DISK_FULL still raised): delivered data goes until it has the room again
  for (let i = 0; p.health.diskTight && i < MAX_INLINE_FREES && !budget.diskHasRoom(); i++) {
    if (!budget.freeSynced()) break;
  }
  if (!writable) return;
  if (store.faults.list().some((f) => f.op === 'checkpoint')) {
    try {
      store.checkpoint();
    } catch {
      return; // noted by the store; tried again next time
    }
  }
  pruner.flushPending();
  if (held.size > 0) held.flush();
  const free = budget.freeOnDisk();
  if (reserve.released && free !== null && free > 2 * p.reserveSize()) reserve.ensure();
}
