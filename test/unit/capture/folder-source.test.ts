import { appendFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FolderSource } from '../../../agent/capture/index.js';
import { tempDir } from '../../helpers/agent-process.js';

const POLL_MS = 20;

async function nextName(source: FolderSource, timeoutMs = 2000): Promise<string | undefined> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error('timeout')), timeoutMs);
  try {
    return (await source.next(abort.signal)).name;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

t.test('new files are taken once each, oldest first; other files are ignored', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'b.jpg'), 'b');
  writeFileSync(join(dir, 'a.png'), 'a');
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  utimesSync(join(dir, 'b.jpg'), 1000, 1000);
  utimesSync(join(dir, 'a.png'), 2000, 2000);
  const source = new FolderSource(dir, false, POLL_MS);
  t.equal(await nextName(source), 'b.jpg', 'older file first');
  t.equal(await nextName(source), 'a.png');
  t.equal(await nextName(source, 200), undefined, 'nothing new: waits');
  writeFileSync(join(dir, 'c.jpg'), 'c');
  t.equal(await nextName(source), 'c.jpg', 'a file that lands later is picked up');
  t.equal(await nextName(source, 200), undefined, 'and only once');
});

t.test('a file still being written is not taken until its size holds still', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'slow.jpg');
  writeFileSync(path, 'part-1');
  const source = new FolderSource(dir, false, POLL_MS);
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  let taken: Buffer | undefined;
  const pending = source.next(abort.signal).then((f) => {
    taken = f.data;
  });
  for (let i = 2; i <= 6; i++) {
    await new Promise((r) => setTimeout(r, POLL_MS / 2));
    appendFileSync(path, `-part-${i}`);
  }
  await pending;
  t.equal(taken?.toString(), 'part-1-part-2-part-3-part-4-part-5-part-6', 'read whole, not half-done');
});

t.test('loop replays the sample set forever, in name order', async (t) => {
  const dir = tempDir();
  for (const n of ['2.jpg', '1.jpg']) writeFileSync(join(dir, n), n);
  const source = new FolderSource(dir, true, POLL_MS);
  const names = [];
  for (let i = 0; i < 5; i++) names.push(await nextName(source));
  t.same(names, ['1.jpg', '2.jpg', '1.jpg', '2.jpg', '1.jpg']);
});

t.test('two callers at once never get the same file', async (t) => {
  const dir = tempDir();
  for (const n of ['1.jpg', '2.jpg', '3.jpg']) writeFileSync(join(dir, n), n);
  const source = new FolderSource(dir, false, POLL_MS);
  const names = await Promise.all([nextName(source), nextName(source), nextName(source)]);
  t.same([...names].sort(), ['1.jpg', '2.jpg', '3.jpg']);
});
