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

/**
 * Samples CPU, memory, temperature, disk and GPUs in the background. Requests never wait for a probe, so
 * `/api/status` stays fast even where `nvidia-smi` or sensors are slow.
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
    return { ...this.last, memory: { ...this.last.memory, processRssBytes: process.memoryUsage.rss() } };
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

/** The filesystem holding `path`: the longest mount point that prefixes it. */
function pickDisk(disks: si.Systeminformation.FsSizeData[], path: string) {
  const abs = path.startsWith('/') ? path : `${process.cwd()}/${path}`;
  return disks.filter((d) => abs.startsWith(d.mount)).sort((a, b) => b.mount.length - a.mount.length)[0];
}

const round = (v: number) => Math.round(v * 10) / 10;
