import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { AlertSink } from '../../agent/alerts.js';
import type { Frame } from '../../agent/capture/index.js';
import type { Evidence } from '../../agent/decision/index.js';
import { EventBus } from '../../agent/events.js';
import { AgentMetrics } from '../../agent/metrics.js';
import { DecisionStore, Storage, type StorageOptions } from '../../agent/store/index.js';
import { tempDir } from './agent-process.js';
import { quietLog } from './fixtures.js';
import { ManualClock } from './manual-clock.js';

/**
 * A real store and image directory in a fresh temp dir (or in `dir`: a small file system of a test's own),
 * with a manual clock.
 */
export function tempStorage(
  opts: Partial<StorageOptions> & { channels?: string[]; dir?: string } = {},
  alerts: AlertSink = { raise: () => {} },
) {
  const dir = opts.dir ?? tempDir('eva-storage-');
  const clock = new ManualClock();
  const metrics = new AgentMetrics(false);
  const events = new EventBus(quietLog);
  const store = DecisionStore.open({
    path: join(dir, 'agent.db'),
    agentId: 'cell-1',
    log: quietLog,
    now: () => clock.now(),
    ...(opts.channels ? { channels: opts.channels } : {}),
  });
  const storage = Storage.open(
    store,
    {
      imagesDir: opts.imagesDir ?? join(dir, 'images'),
      maxDiskMB: opts.maxDiskMB ?? 64,
      retentionDays: opts.retentionDays ?? 30,
      keepOkImageEvery: opts.keepOkImageEvery ?? 50,
      ...(opts.reserveMB !== undefined ? { reserveMB: opts.reserveMB } : {}),
    },
    { clock, log: quietLog, metrics, alerts, events },
  );
  return { dir, clock, metrics, events, store, storage, imagesDir: opts.imagesDir ?? join(dir, 'images') };
}

let noiseSeed = 1;

/** A JPEG of random noise (a distinct file each call, about 60 KB at 256x256: noise does not compress). */
export async function noiseJpeg(size = 256): Promise<Buffer> {
  const px = Buffer.alloc(size * size * 3);
  let x = noiseSeed++ * 2654435761;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  return sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

export function evidence(frame: Frame, clock: ManualClock, over: Partial<Evidence> = {}): Evidence {
  return { frame, dueAt: clock.now() + 1_000, ...over };
}

/** Files and bytes actually under an images directory (what the running total must agree with). */
export function walkImages(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const sub of readdirSync(dir)) {
    for (const f of readdirSync(join(dir, sub))) {
      files += 1;
      bytes += statSync(join(dir, sub, f)).size;
    }
  }
  return { files, bytes };
}
