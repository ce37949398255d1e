import { spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { crc32, ZipReader, ZipWriter } from '../../../agent/dataset/index.js';
import { tempDir } from '../../helpers/agent-process.js';
import { requireTool } from '../../helpers/tools.js';

t.test('crc32 is the zip (IEEE) one', async (t) => {
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  t.equal(crc32(Buffer.from('6789'), crc32(Buffer.from('12345'))), 0xcbf43926, 'continued over chunks');
  t.equal(crc32(Buffer.alloc(0)), 0);
});

async function writeZip(path: string, files: [string, Buffer][]): Promise<void> {
  const zip = new ZipWriter(createWriteStream(path));
  for (const [name, data] of files) await zip.add(name, data, new Date(2025, 10, 20, 6, 30, 10));
  await zip.finish();
}

const FILES: [string, Buffer][] = [
  ['labelled/ok/1-aa.jpg', Buffer.from('jpeg bytes one')],
  ['labelled/dent/2-bb.jpg', Buffer.alloc(200_000, 7)],
  ['unverified/ok/3-cc.jpg', Buffer.alloc(0)],
  ['été/ünïcode.txt', Buffer.from('utf-8 names')],
  ['manifest.json', Buffer.from('{"schema":1}')],
];

t.test("Debian's unzip reads the archive: names, sizes, CRCs, times", async (t) => {
  if (!requireTool(t, 'unzip', 'the zip writer is checked against a real unzip')) return;
  const dir = tempDir('eva-zip-');
  const path = join(dir, 'd.zip');
  await writeZip(path, FILES);
  const test = spawnSync('unzip', ['-t', path], { encoding: 'utf8' });
  t.equal(test.status, 0, test.stdout + test.stderr);
  t.match(test.stdout, /No errors detected/);
  const out = join(dir, 'x');
  const unpacked = spawnSync('unzip', ['-q', path, '-d', out], { encoding: 'utf8' });
  t.equal(unpacked.status, 0, unpacked.stderr);
  for (const [name, data] of FILES) t.same(readFileSync(join(out, name)), data, name);
  const list = spawnSync('unzip', ['-l', path], { encoding: 'utf8' });
  t.match(list.stdout, /2025-11-20 06:30|11-20-2025 06:30/, 'the entry time');
});

t.test('the reader reads back what the writer wrote, and a deflated zip made by zip(1)', async (t) => {
  const dir = tempDir('eva-zip-');
  const path = join(dir, 'd.zip');
  await writeZip(path, FILES);
  const zip = ZipReader.open(path);
  t.teardown(() => zip.close());
  t.same(
    zip.entries.map((e) => e.name),
    FILES.map(([n]) => n),
  );
  for (const [name, data] of FILES) t.same(zip.read(name), data, name);
  if (spawnSync('sh', ['-c', 'command -v zip']).status === 0) {
    writeFileSync(join(dir, 'text.txt'), 'a'.repeat(10_000));
    spawnSync('zip', ['-q', '-9', join(dir, 'deflated.zip'), 'text.txt'], { cwd: dir });
    const d = ZipReader.open(join(dir, 'deflated.zip'));
    t.equal(d.entry('text.txt')?.method, 8, 'deflated');
    t.equal(d.read('text.txt').toString(), 'a'.repeat(10_000));
    d.close();
  }
});

t.test('broken archives are refused with the reason, bounded', async (t) => {
  const dir = tempDir('eva-zip-');
  const good = join(dir, 'd.zip');
  await writeZip(good, FILES);
  const bytes = readFileSync(good);
  const cases: [string, Buffer, RegExp][] = [
    ['not a zip', Buffer.from('hello, this is not a zip archive at all'), /no end of central directory/],
    ['too short', Buffer.from('PK'), /2 bytes/],
    ['cut off', bytes.subarray(0, bytes.length - 30), /no end of central directory|damaged|ends early/],
  ];
  for (const [name, data, why] of cases) {
    writeFileSync(join(dir, 'bad.zip'), data);
    t.throws(
      () => ZipReader.open(join(dir, 'bad.zip')),
      { code: 'EVA_ERR_DATASET_INVALID', message: why },
      name,
    );
  }
  // a flipped byte inside an entry: the CRC says so
  const flipped = Buffer.from(bytes);
  const at = flipped.indexOf(Buffer.from('jpeg bytes one'));
  flipped[at] = 0x4a;
  writeFileSync(join(dir, 'crc.zip'), flipped);
  const zip = ZipReader.open(join(dir, 'crc.zip'));
  t.throws(() => zip.read('labelled/ok/1-aa.jpg'), { message: /corrupt \(size or CRC does not match\)/ });
  zip.close();
  t.throws(() => ZipReader.open(join(dir, 'missing.zip')), {
    code: 'EVA_ERR_DATASET_INVALID',
    message: /cannot open/,
  });
});

t.test('the writer waits for a slow reader instead of buffering the archive', async (t) => {
  const out = new PassThrough({ highWaterMark: 1024 });
  const zip = new ZipWriter(out);
  let written = false;
  const work = (async () => {
    await zip.add('big.bin', Buffer.alloc(64 * 1024, 1));
    await zip.add('second.bin', Buffer.alloc(16, 2));
    written = true;
  })();
  await new Promise((r) => setImmediate(r));
  t.equal(written, false, 'blocked on the full destination');
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await work;
  await zip.finish();
  t.equal(zip.entries, 2);
  t.equal(Buffer.concat(chunks).length, zip.bytes);
});
