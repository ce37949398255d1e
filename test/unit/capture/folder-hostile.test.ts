import { spawnSync } from 'node:child_process';
import { appendFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { FolderSource } from '../../../agent/capture/index.js';
import { FOLDER_INCOMPLETE_MS, FOLDER_SETTLE_MS } from '../../../agent/config/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { cutJpeg, goodJpeg, svgEntityBomb, truncatedJpegWithEnd } from '../../helpers/frame-fuzz.js';
import { ManualClock } from '../../helpers/manual-clock.js';

const POLL_MS = 250;

/** A folder source as agent.yaml's defaults build it, on a clock the test moves. */
function source(dir: string, over: { alreadyDecided?: (ref: string) => boolean; maxBytes?: number } = {}) {
  const clock = new ManualClock();
  const src = new FolderSource(dir, false, POLL_MS, clock, over.alreadyDecided, {
    settleMs: FOLDER_SETTLE_MS,
    incompleteMs: FOLDER_INCOMPLETE_MS,
    ...(over.maxBytes ? { maxBytes: over.maxBytes } : {}),
  });
  const frames: Frame[] = [];
  const abort = new AbortController();
  // one consumer pulling frames as the camera loop does
  const loop = (async () => {
    for (;;) frames.push(await src.next(abort.signal));
  })().catch(() => {});
  t.teardown(async () => {
    abort.abort();
    await clock.advance(POLL_MS);
    await loop;
  });
  /** Moves the clock `ms` in poll steps, giving the real file system time between steps. */
  const pass = async (ms: number) => {
    for (let done = 0; done < ms; done += POLL_MS) {
      await clock.advance(POLL_MS);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  /** Moves the clock until `n` frames were taken (bounded: at most `maxMs` of clock time). */
  const until = async (n: number, maxMs = 60_000) => {
    for (let done = 0; frames.length < n && done < maxMs; done += POLL_MS) await pass(POLL_MS);
  };
  return { src, clock, frames, pass, until };
}

const stamp = (path: string, s: number) => utimesSync(path, s, s);

t.test(
  'an FTP upload that pauses half-way is judged once, complete; a new picture under its name again',
  async (t) => {
    const dir = tempDir();
    const jpeg = goodJpeg(1);
    const path = join(dir, 'part-1.jpg');
    const s = source(dir);
    writeFileSync(path, jpeg.subarray(0, jpeg.length / 2));
    stamp(path, 1_000);
    await s.pass(3_000); // the camera's FTP client pauses 3 s mid-file
    t.equal(s.frames.length, 0, 'the half-written file is not judged while the upload pauses');
    t.same(s.src.skipped(), {
      count: 1,
      last: 'part-1.jpg: a JPEG without its end yet: waiting for the rest of the upload',
    });
    appendFileSync(path, jpeg.subarray(jpeg.length / 2));
    stamp(path, 1_004);
    await s.until(1);
    await s.pass(2_000);
    t.equal(s.frames.length, 1, 'judged once');
    t.ok(s.frames[0]?.data.equals(jpeg), 'the whole file');
    t.equal(s.frames[0]?.problem, undefined);
    t.equal(s.src.skipped().count, 0, 'nothing waiting any more');

    // the camera writes its next picture under the same name: a new frame, judged again
    writeFileSync(path, goodJpeg(2));
    stamp(path, 1_010);
    await s.until(2);
    t.equal(s.frames.length, 2, 'a file replaced under the same name is judged again');
    t.ok(s.frames[1]?.data.equals(goodJpeg(2)));
    t.not(s.frames[1]?.ref, s.frames[0]?.ref, 'known by name, size and mtime');
  },
);

t.test('after a restart, judged files are skipped by reference; a replaced one is not', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'a.jpg'), goodJpeg(1));
  stamp(join(dir, 'a.jpg'), 2_000);
  const first = source(dir);
  await first.until(1);
  const judged = new Set([first.frames[0]?.ref]);
  // the next run: the store knows a.jpg's reference
  const second = source(dir, { alreadyDecided: (ref) => judged.has(ref) });
  await second.pass(3_000);
  t.equal(second.frames.length, 0, 'not judged twice across a restart');
  writeFileSync(join(dir, 'a.jpg'), goodJpeg(3));
  stamp(join(dir, 'a.jpg'), 2_100);
  await second.until(1);
  t.equal(second.frames[0]?.name, 'a.jpg', 'the picture written again under that name is');
});

t.test('files that are not frames become problems, never decoder input', async (t) => {
  const dir = tempDir();
  const files: Record<string, Buffer> = {
    '1-bomb.jpg': svgEntityBomb(3),
    '2-cut-with-end.jpg': truncatedJpegWithEnd(),
    '3-text.png': Buffer.from('<html>login</html>'),
    '4-big.jpg': goodJpeg(4),
  };
  for (const [i, [name, data]] of Object.entries(files).entries()) {
    writeFileSync(join(dir, name), data);
    stamp(join(dir, name), 3_000 + i);
  }
  const s = source(dir, { maxBytes: 16 * 1024 });
  await s.until(4);
  const byName = new Map(s.frames.map((f) => [f.name, f]));
  t.match(
    byName.get('1-bomb.jpg')?.problem,
    /^1-bomb\.jpg: unsupported image format: not a JPEG, PNG or TIFF image \(starts with "<\?xml/,
  );
  t.match(
    byName.get('3-text.png')?.problem,
    /unsupported image format: not a JPEG, PNG or TIFF image \(starts with "<html>login/,
  );
  t.match(
    byName.get('4-big.jpg')?.problem,
    /^4-big\.jpg: file of [\d.]+ KiB is over the 16\.0 KiB limit \(source\.maxFileMB\): not read$/,
  );
  t.equal(byName.get('4-big.jpg')?.data.length, 0, 'a file over the limit is not read');
  // a JPEG cut short and closed with an end marker passes the header checks: the decoder refuses it
  t.equal(byName.get('2-cut-with-end.jpg')?.problem, undefined);
  t.ok(
    s.frames.every((f) => f.ref),
    'each with its reference: a restart does not judge it again',
  );
});

t.test('symlinks, FIFOs and empty files are reported, never followed or blocked on', async (t) => {
  const dir = tempDir();
  const outside = join(tempDir(), 'secret.jpg');
  writeFileSync(outside, goodJpeg(5));
  symlinkSync(outside, join(dir, 'link.jpg'));
  const fifo = spawnSync('mkfifo', [join(dir, 'pipe.jpg')]);
  t.equal(fifo.status, 0, 'mkfifo');
  writeFileSync(join(dir, 'good.jpg'), goodJpeg(6));
  stamp(join(dir, 'good.jpg'), 4_000);
  writeFileSync(join(dir, 'empty.jpg'), '');
  stamp(join(dir, 'empty.jpg'), 4_001);
  const s = source(dir);
  await s.until(1);
  t.same(
    s.frames.map((f) => f.name),
    ['good.jpg'],
    'the regular file is judged; the FIFO did not block the scan',
  );
  const skipped = s.src.skipped();
  t.equal(skipped.count, 3, 'the link, the FIFO and the empty file are reported');
  // the empty file waits for content, then is judged ERROR rather than dropped
  await s.until(2, FOLDER_INCOMPLETE_MS + 5_000);
  t.equal(s.frames[1]?.name, 'empty.jpg');
  t.equal(s.frames[1]?.problem, 'empty.jpg: empty file (0 bytes)');
  t.equal(s.src.skipped().count, 2);
  t.match(s.src.skipped().last, /pipe\.jpg: a named pipe \(FIFO\): never opened/);
});

t.test('an upload that never finishes is judged as it is after incompleteMs, with the reason', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'stuck.jpg'), cutJpeg());
  stamp(join(dir, 'stuck.jpg'), 5_000);
  const s = source(dir);
  await s.pass(FOLDER_INCOMPLETE_MS - 2_000);
  t.equal(s.frames.length, 0, 'still waiting for the rest');
  await s.until(1);
  t.match(s.frames[0]?.problem, /^stuck\.jpg: truncated JPEG \(\d+ bytes, no end-of-image marker\)$/);
});

t.test(
  'parts are judged in the order they were written: an unfinished upload holds the later ones back',
  async (t) => {
    const dir = tempDir();
    writeFileSync(join(dir, '0001.jpg'), cutJpeg(goodJpeg(1)));
    stamp(join(dir, '0001.jpg'), 6_000);
    writeFileSync(join(dir, '0002.jpg'), goodJpeg(2));
    stamp(join(dir, '0002.jpg'), 6_001);
    const s = source(dir);
    await s.pass(5_000);
    t.equal(s.frames.length, 0, '0002 waits while 0001 may still be completed');
    appendFileSync(join(dir, '0001.jpg'), goodJpeg(1).subarray(cutJpeg(goodJpeg(1)).length));
    stamp(join(dir, '0001.jpg'), 6_000.5);
    await s.until(2);
    t.same(
      s.frames.map((f) => f.name),
      ['0001.jpg', '0002.jpg'],
      'in order, once the first is complete',
    );

    // an upload that never completes holds the next part back for incompleteMs, then both are judged, in order
    writeFileSync(join(dir, '0003.jpg'), cutJpeg(goodJpeg(3)));
    stamp(join(dir, '0003.jpg'), 6_010);
    writeFileSync(join(dir, '0004.jpg'), goodJpeg(4));
    stamp(join(dir, '0004.jpg'), 6_011);
    await s.until(4, FOLDER_INCOMPLETE_MS + 5_000);
    t.same(
      s.frames.slice(2).map((f) => [f.name, f.problem !== undefined]),
      [
        ['0003.jpg', true],
        ['0004.jpg', false],
      ],
    );
  },
);
