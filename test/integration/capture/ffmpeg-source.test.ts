import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { RawFrameAssembler } from '../../../agent/capture/ffmpeg-pipe.js';
import { FfmpegSource, type FfmpegSourceOptions } from '../../../agent/capture/ffmpeg-source.js';
import type { Frame } from '../../../agent/capture/frame.js';
import { tempDir } from '../../helpers/agent-process.js';
import { startRtspCamera } from '../../helpers/camera-servers.js';
import { quietLog } from '../../helpers/fixtures.js';
import { freePort, waitFor } from '../../helpers/net.js';
import { requireTool } from '../../helpers/tools.js';

function source(t: Test, opts: Omit<FfmpegSourceOptions, 'log'>): FfmpegSource {
  const s = new FfmpegSource({ log: quietLog, ...opts });
  t.teardown(() => s.close());
  return s;
}

function grab(s: FfmpegSource, timeoutMs = 15_000): Promise<Frame> {
  return s.next(AbortSignal.timeout(timeoutMs));
}

/** True once the process is gone from the process table: exited and reaped, not a zombie. */
function reaped(pid: number | undefined): boolean {
  return pid !== undefined && !existsSync(`/proc/${pid}`);
}

t.test('the frame assembler cuts a pipe into exact frames whatever the chunk edges', async (t) => {
  const frameBytes = 12;
  const stream = Buffer.from(Array.from({ length: 12 * 3 + 5 }, (_, i) => i));
  const frames: Buffer[] = [];
  const a = new RawFrameAssembler(frameBytes);
  let offset = 0;
  for (const size of [1, 5, 11, 13, 7, 4]) {
    a.push(stream.subarray(offset, offset + size), (f) => {
      frames.push(f);
      return true; // kept: the assembler must start a fresh buffer
    });
    offset += size;
  }
  t.equal(frames.length, 3, 'three whole frames');
  t.same(
    frames.map((f) => [...f]),
    [0, 1, 2].map((n) => [...stream.subarray(n * 12, n * 12 + 12)]),
    'byte-exact, in order',
  );
  t.equal(a.partialBytes, 5, 'the tail is a truncated frame, never handed on');
});

t.test(
  'a lavfi stream: raw rgb24 frames of the probed size, each one completed after the call',
  async (t) => {
    if (!requireTool(t, 'ffmpeg', 'the ffmpeg source decodes with it')) return;
    const s = source(t, { input: { type: 'lavfi', graph: 'testsrc=size=320x240:rate=25' } });
    const first = await grab(s);
    if (first.kind !== 'raw') throw new Error('raw frame expected');
    t.equal(first.width, 320);
    t.equal(first.height, 240);
    t.equal(first.channels, 3);
    t.equal(first.data.length, 320 * 240 * 3, 'exact size');
    t.same(s.frameSize, { pixelFormat: 'rgb24', width: 320, height: 240 });
    // nobody asks for a while: frames keep coming and are dropped, not queued
    await waitFor(() => s.counters.dropped >= 5, 10_000, 'frames dropped while nobody asks');
    const asked = Date.now();
    const second = await grab(s);
    t.ok(second.capturedAt >= asked, 'the frame completed after the call, not a stale one');
    const seq = (f: Frame) => Number(f.name?.split('-')[1]);
    t.ok(seq(second) > seq(first) + 5, 'frames in between were skipped');
    const both = await Promise.all([grab(s), grab(s)]);
    t.equal(both[0], both[1], 'callers waiting together get the same frame');
  },
);

t.test('scaling, and an input in another pixel format, still give rgb24 at the asked size', async (t) => {
  if (!requireTool(t, 'ffmpeg', 'the ffmpeg source decodes with it')) return;
  const s = source(t, {
    input: { type: 'lavfi', graph: 'testsrc=size=640x480:rate=25,format=gray' },
    scale: { width: 160, height: 120 },
  });
  const f = await grab(s);
  if (f.kind !== 'raw') throw new Error('raw frame expected');
  t.same([f.width, f.height, f.data.length], [160, 120, 160 * 120 * 3]);
  t.equal(f.data[0], f.data[1], 'grey converted to rgb: equal channels');
});

t.test('an 8K stream is refused with a clear error, counted, and ffmpeg is stopped', async (t) => {
  if (!requireTool(t, 'ffmpeg', 'the ffmpeg source decodes with it')) return;
  const s = source(t, { input: { type: 'lavfi', graph: 'color=size=7680x4320:rate=1' } });
  await t.rejects(grab(s), /7680x4320 is over the \d+ pixel limit: set scale/);
  t.equal(s.counters.errors, 1);
  await waitFor(() => reaped(s.pid), 10_000, 'ffmpeg gone');
  t.rejects(grab(s), /over the/, 'later calls fail the same way, at once');
  const scaled = source(t, {
    input: { type: 'lavfi', graph: 'color=size=7680x4320:rate=1' },
    scale: { width: 640, height: 360 },
  });
  const f = await grab(scaled, 30_000);
  t.equal(f.data.length, 640 * 360 * 3, 'with scale it is fine');
});

t.test('garbage input, a missing binary and an unreachable camera each fail clearly', async (t) => {
  if (!requireTool(t, 'ffmpeg', 'the ffmpeg source decodes with it')) return;
  const junk = join(tempDir(), 'junk.mp4');
  writeFileSync(junk, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
  const garbage = source(t, { input: { type: 'file', path: junk } });
  await t.rejects(grab(garbage), /ffmpeg exited \(code \d+\): .*Invalid data/);
  t.ok(garbage.recentDiagnostics().length > 0, 'stderr kept for the restart log');

  const missing = source(t, {
    input: { type: 'lavfi', graph: 'testsrc' },
    ffmpegPath: '/nonexistent/ffmpeg',
  });
  await t.rejects(grab(missing), /cannot run ffmpeg at \/nonexistent\/ffmpeg: .*ENOENT/);

  const port = await freePort(); // nothing listens there
  const url = `rtsp://admin:hunter2@127.0.0.1:${port}/cam`;
  const rtsp = source(t, { input: { type: 'rtsp', url, transport: 'tcp' } });
  const err = await grab(rtsp).catch((e: Error) => e);
  t.match(String(err), /ffmpeg exited .*(refused|Connection)/i);
  t.equal(rtsp.counters.errors, 1);
  t.notMatch(
    `${String(err)} ${rtsp.recentDiagnostics().join(' ')}`,
    /hunter2/,
    'the password is not repeated',
  );
});

t.test('a damaged recording decodes what it can: errors go to stderr, whole frames still come', async (t) => {
  if (!requireTool(t, 'ffmpeg', 'the ffmpeg source decodes with it')) return;
  const dir = tempDir();
  const clip = join(dir, 'clip.ts');
  const made = spawnSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25'],
    ...['-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', clip],
  ]);
  t.equal(made.status, 0, 'clip made');
  const bytes = readFileSync(clip);
  for (let i = Math.floor(bytes.length / 4); i < bytes.length; i += 997) bytes[i] = 0xff; // corrupt 3/4 of it
  writeFileSync(clip, bytes);
  const s = source(t, { input: { type: 'file', path: clip } });
  const frames: Frame[] = [];
  for (;;) {
    try {
      frames.push(await grab(s));
    } catch {
      break; // the end of the file ends the source
    }
  }
  t.ok(frames.length > 0, `${frames.length} frames came through`);
  t.ok(
    frames.every((f) => f.data.length === 320 * 240 * 3),
    'every frame whole',
  );
});

t.test('close stops ffmpeg, rejects a pending call, and leaves no process behind', async (t) => {
  if (!requireTool(t, 'ffmpeg', 'the ffmpeg source decodes with it')) return;
  const s = new FfmpegSource({ log: quietLog, input: { type: 'lavfi', graph: 'testsrc=rate=1' } });
  await grab(s);
  const pid = s.pid;
  t.ok(pid && existsSync(`/proc/${pid}`), 'ffmpeg running');
  const pending = t.rejects(grab(s), /source closed/, 'a pending call is rejected');
  await s.close();
  await pending;
  t.ok(reaped(pid), 'exited and reaped');
});

t.test('an RTSP camera over UDP: frames arrive with the size from the stream', async (t) => {
  if (!requireTool(t, 'ffmpeg', 'the ffmpeg source decodes with it')) return;
  if (!requireTool(t, 'rtsp-server-perl', 'it serves the test RTSP stream')) return;
  const camera = await startRtspCamera({ width: 320, height: 240, fps: 10 });
  t.teardown(() => camera.stop());
  const s = source(t, { input: { type: 'rtsp', url: camera.url, transport: 'udp' } });
  const f = await grab(s, 20_000);
  if (f.kind !== 'raw') throw new Error('raw frame expected');
  t.same([f.width, f.height], [320, 240]);
  const again = await grab(s);
  t.not(again, f, 'a newer frame');
});
