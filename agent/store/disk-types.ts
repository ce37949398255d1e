import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { AgentMetrics } from '../metrics.js';
import type { Clock } from '../service.js';
import type { ImageStore } from './image-store.js';
import type { Pruner } from './pruner.js';
import type { ReserveFile } from './reserve-file.js';

/** What the disk budget counts and what it is built from (disk-budget.ts). */

export type DropKind =
  | 'image_synced'
  | 'drift_report'
  | 'decision_synced'
  | 'image_unsynced'
  | 'image_not_stored_disk_full'
  | 'image_write_failed'
  | 'image_encode_failed'
  | 'image_late'
  /** A verdict that could not be stored nor held in memory (the hold was full): lost, and counted. */
  | 'decision_unstored';

export interface DiskUsage {
  dbBytes: number;
  walBytes: number;
  /** What the image files and their directories take on disk (their blocks). */
  imagesBytes: number;
  /** The reserve file (released on a full disk, made again after). */
  reserveBytes: number;
  totalBytes: number;
  budgetBytes: number;
}

export interface DiskBudgetDeps {
  db: Database;
  dbPath: string;
  images: ImageStore;
  pruner: Pruner;
  reserve: ReserveFile;
  maxBytes: number;
  clock: Clock;
  log: Logger;
  metrics: AgentMetrics;
}
