/**
 * `node --import tsx bench/capture.ts [ffmpeg|rtsp|mjpeg|http]`: frames per second and CPU time per frame of
 * each camera source, read as fast as the agent would (a consumer always waiting: newest frame wins).
 * CPU is this process's (process.cpuUsage) and, for ffmpeg sources, the decoder child's (from /proc), per
 * frame delivered. The MJPEG and snapshot servers run in this process, so their (small) cost is included.
 * Machines are shared and noisy: compare ratios within a run, not absolute numbers across runs.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { FfmpegSource } from '../agent/capture/ffmpeg-source.js';
import type { FrameSource } from '../agent/capture/frame.js';
import { HttpSnapshotSource } from '../agent/capture/http-source.js';
import { MjpegSource } from '../agent/capture/mjpeg-source.js';
import {
  makeJpegFrames,
  startMjpegServer,
  startRtspCamera,
  startSnapshotServer,
} from '../test/helpers/camera-servers.js';

const log = pino({ level: 'silent' });
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

function row(label: string, values: Record<string, string | number>) {
  const cells = Object.entries(values).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(2) : v}`);
  process.stdout.write(`${label.padEnd(44)} ${cells.join('  ')}\n`);
}

/** CPU seconds a child has used so far (utime + stime from /proc/PID/stat). */
function childCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0; // already exited: nothing more to count
  }
}

async function measure(
  label: string,
  source: FrameSource,
  childPid: () => number | undefined = () => undefined,
) {
  await source.next(AbortSignal.timeout(30_000)); // warm up: connected and decoding
  const cpu0 = process.cpuUsage();
  const child0 = childCpuSeconds(childPid());
  const started = performance.now();
  let frames = 0;
  let bytes = 0;
  while (performance.now() - started < SECONDS * 1000) {
    const f = await source.next(AbortSignal.timeout(10_000));
    frames++;
    bytes += f.data.length;
  }
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const child = childCpuSeconds(childPid()) - child0;
  await source.close();
  row(label, {
    'frames/s': frames / elapsed,
    'node cpu ms/frame': (cpu.user + cpu.system) / 1000 / frames,
    ...(childPid() !== undefined ? { 'ffmpeg cpu ms/frame': (child * 1000) / frames } : {}),
    'MB/frame': bytes / frames / 1e6,
  });
}

async function benchFfmpeg() {
  for (const [label, realtime, scale] of [
    ['ffmpeg lavfi 1280x720 as fast as possible', false, undefined],
    ['ffmpeg lavfi 1280x720@25 realtime', true, undefined],
    ['ffmpeg lavfi 1280x720@25 scaled to 640x360', true, { width: 640, height: 360 }],
  ] as const) {
    const s = new FfmpegSource({
      input: { type: 'lavfi', graph: 'testsrc2=size=1280x720:rate=25', realtime },
      ...(scale ? { scale } : {}),
      log,
    });
    await measure(label, s, () => s.pid);
  }
}

async function benchRtsp() {
  if (spawnSync('sh', ['-c', 'command -v rtsp-server-perl']).status !== 0) {
    row('ffmpeg rtsp', { skipped: 'rtsp-server-perl not installed' });
    return;
  }
  const camera = await startRtspCamera({ width: 1280, height: 720, fps: 25 });
  try {
    const s = new FfmpegSource({ input: { type: 'rtsp', url: camera.url, transport: 'udp' }, log });
    await measure('ffmpeg rtsp h264 1280x720@25 (udp)', s, () => s.pid);
  } finally {
    await camera.stop();
  }
}

async function benchMjpeg() {
  const frames = await makeJpegFrames(10, 1280, 720);
  const camera = await startMjpegServer({ fps: 30, frames });
  try {
    await measure('mjpeg 1280x720@30', new MjpegSource({ url: camera.url, log }));
  } finally {
    await camera.stop();
  }
}

async function benchHttp() {
  const [jpeg] = await makeJpegFrames(1, 1280, 720);
  const camera = await startSnapshotServer({ ...(jpeg ? { jpeg } : {}) });
  try {
    const url = `${camera.base}/snapshot.jpg`;
    await measure('http snapshot 1280x720, back-to-back GETs', new HttpSnapshotSource({ url, log }));
  } finally {
    await camera.stop();
  }
}

const groups = process.argv.slice(2);
const want = (g: string) => groups.length === 0 || groups.includes(g);
process.stdout.write(
  `edge-vision-agent capture bench, node ${process.version}, ${new Date().toISOString()}\n`,
);
if (want('ffmpeg')) await benchFfmpeg();
if (want('rtsp')) await benchRtsp();
if (want('mjpeg')) await benchMjpeg();
if (want('http')) await benchHttp();
