import { readFileSync, statfsSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import si from 'systeminformation';
import { type Clock, type Service, systemClock, type TimerHandle } from '../service.js';

export interface SystemSnapshot {
  cpu: { loadPercent: number | null; cores: number | null };
  memory: { totalBytes: number | null; usedBytes: number | null; processRssBytes: number };
  temperature: { cpuC: number | null };
  disk: { path: string; totalBytes: number | null; freeBytes: number | null };
  gpu: { model: string; memoryTotalMB: number | null; utilizationPercent: number | null }[];
  sampledAt: number | null;
}

/** How often the (slow, sometimes process-spawning) system probes run; status reads the cached sample. */
const SAMPLE_PERIOD_MS = 15_000;

/** Where Linux reports the first thermal zone (usually the CPU package), in millidegrees Celsius. */
const THERMAL_ZONE = '/sys/class/thermal/thermal_zone0/temp';

/**
 * Samples CPU, memory, temperature, disk and GPUs in the background. Requests never wait for a probe, so
 * `/api/status` stays fast even where `nvidia-smi` or sensors are slow. Until the first full probe has
 * answered (it can take seconds), the figures come from a quick synchronous read of what the kernel
 * already has (`os`, `statfs`, the thermal zone): the `system` block is never a row of nulls.
 */
export class SystemMonitor implements Service {
  readonly name = 'system-monitor';
  private timer: TimerHandle | undefined;
  private sampling: Promise<void> | undefined;
  private last: SystemSnapshot;

  constructor(
    private readonly dataPath: string,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.last = {
      cpu: { loadPercent: null, cores: null },
      memory: { totalBytes: null, usedBytes: null, processRssBytes: process.memoryUsage.rss() },
      temperature: { cpuC: null },
      disk: { path: dataPath, totalBytes: null, freeBytes: null },
      gpu: [],
      sampledAt: null,
    };
  }

  async start(): Promise<void> {
    if (this.last.sampledAt === null) this.last = this.quickSample();
    this.sampling = this.sample();
    this.timer = this.clock.setInterval(() => {
      this.sampling = this.sample();
    }, SAMPLE_PERIOD_MS);
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) this.clock.clearInterval(this.timer);
    this.timer = undefined;
    await this.sampling;
  }

  snapshot(): SystemSnapshot {
    if (this.last.sampledAt === null) this.last = this.quickSample();
    return { ...this.last, memory: { ...this.last.memory, processRssBytes: process.memoryUsage.rss() } };
  }

  /**
   * What the kernel has at hand, in well under a millisecond: the 1-minute load average over the cores
   * stands in for CPU use, MemAvailable for memory, statfs for the disk; no GPU (that needs a probe).
   */
  private quickSample(): SystemSnapshot {
    const cores = cpus().length || null;
    const disk = statfsOf(this.dataPath);
    return {
      cpu: { loadPercent: cores ? round(Math.min(100, ((loadavg()[0] ?? 0) / cores) * 100)) : null, cores },
      memory: {
        totalBytes: totalmem(),
        usedBytes: totalmem() - freemem(),
        processRssBytes: process.memoryUsage.rss(),
      },
      temperature: { cpuC: thermalZoneC() },
      disk: { path: this.dataPath, totalBytes: disk?.total ?? null, freeBytes: disk?.free ?? null },
      gpu: [],
      sampledAt: this.clock.now(),
    };
  }

  private async sample(): Promise<void> {
    try {
      const [load, mem, temp, disks, graphics] = await Promise.all([
        si.currentLoad(),
        si.mem(),
        si.cpuTemperature(),
        si.fsSize(),
        si.graphics().catch(() => ({ controllers: [] })),
      ]);
      const disk = pickDisk(disks, this.dataPath);
      this.last = {
        cpu: { loadPercent: round(load.currentLoad), cores: load.cpus.length },
        memory: { totalBytes: mem.total, usedBytes: mem.active, processRssBytes: process.memoryUsage.rss() },
        temperature: { cpuC: typeof temp.main === 'number' ? temp.main : null },
        disk: { path: this.dataPath, totalBytes: disk?.size ?? null, freeBytes: disk?.available ?? null },
        gpu: graphics.controllers
          .filter((c) => /nvidia/i.test(c.vendor ?? '') || c.utilizationGpu !== undefined)
          .map((c) => ({
            model: c.model,
            memoryTotalMB: c.memoryTotal ?? null,
            utilizationPercent: c.utilizationGpu ?? null,
          })),
        sampledAt: this.clock.now(),
      };
    } catch (err) {
      this.log.warn({ err }, 'system probe failed');
    }
  }
}

/** The file system holding `path` (or its nearest existing parent: the store may not be created yet). */
function statfsOf(path: string): { total: number; free: number } | undefined {
  for (let dir = resolve(path), i = 0; i < 64; dir = dirname(dir), i++) {
    try {
      const s = statfsSync(dir);
      return { total: s.blocks * s.bsize, free: s.bavail * s.bsize };
    } catch {
      if (dir === dirname(dir)) return undefined; // reached / without an answer
    }
  }
  return undefined;
}

function thermalZoneC(): number | null {
  try {
    const milli = Number(readFileSync(THERMAL_ZONE, 'utf8').trim());
    return Number.isFinite(milli) ? round(milli / 1000) : null;
  } catch {
    return null; // no thermal zone (containers, some VMs): not known, which is what null says
  }
}

/** The filesystem holding `path`: the longest mount point that prefixes it. */
function pickDisk(disks: si.Systeminformation.FsSizeData[], path: string) {
  const abs = path.startsWith('/') ? path : `${process.cwd()}/${path}`;
  return disks.filter((d) => abs.startsWith(d.mount)).sort((a, b) => b.mount.length - a.mount.length)[0];
}

const round = (v: number) => Math.round(v * 10) / 10;
