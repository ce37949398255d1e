import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import { EventBus } from '../../../agent/events.js';
import type { Inference } from '../../../agent/inference/index.js';
import { DecisionStore, Pruner, STORE_MARGIN_MS, Storage } from '../../../agent/store/index.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { evidence, noiseJpeg, tempStorage, walkImages } from '../../helpers/storage.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const jpegFrame = async (): Promise<Frame> => ({ kind: 'encoded', data: await noiseJpeg(64), capturedAt: 1 });
const imageRows = (s: ReturnType<typeof tempStorage>) =>
  s.store.db.prepare('SELECT seq, kind, sha256, bytes FROM images ORDER BY seq, kind').all() as {
    seq: number;
    kind: string;
    sha256: string;
    bytes: number;
  }[];

t.test(
  'NG and UNCERTAIN frames are kept, 1 in keepOkImageEvery OK frames per camera, ERROR never',
  async (t) => {
    const s = tempStorage({ keepOkImageEvery: 3 });
    t.teardown(() => s.store.close());
    const kept: number[] = [];
    const verdicts = ['OK', 'OK', 'OK', 'OK', 'NG', 'UNCERTAIN', 'ERROR', 'OK', 'OK', 'OK'] as const;
    for (const verdict of verdicts) {
      const d = await s.storage.record(draft({ verdict }), evidence(await jpegFrame(), s.clock));
      if (d.image?.stored) kept.push(d.seq);
    }
    t.same(kept, [1, 4, 5, 6, 10], 'OK #1, #4, #7 of this camera; NG; UNCERTAIN');
    const other = await s.storage.record(draft({ cameraId: 'cam-2' }), evidence(await jpegFrame(), s.clock));
    t.equal(other.image?.stored, true, 'each camera samples on its own');

    const none = tempStorage({ keepOkImageEvery: 0 });
    t.teardown(() => none.store.close());
    for (let i = 0; i < 3; i++) {
      const d = await none.storage.record(draft(), evidence(await jpegFrame(), none.clock));
      t.not(d.image?.stored, true, 'keepOkImageEvery 0 keeps no OK frame');
    }
    t.equal(
      (await none.storage.record(draft({ verdict: 'NG' }), evidence(await jpegFrame(), none.clock))).image
        ?.stored,
      true,
    );
  },
);

t.test('a JPEG frame is stored as it came, under its sha256, before its decision row', async (t) => {
  const s = tempStorage();
  t.teardown(() => s.store.close());
  const frame = await jpegFrame();
  const d = await s.storage.record(draft({ verdict: 'NG' }), evidence(frame, s.clock));
  const hash = sha(frame.data);
  t.same(d.image, { sha256: hash, stored: true });
  const path = join(s.imagesDir, hash.slice(0, 2), `${hash}.jpg`);
  t.same(readFileSync(path), frame.data, 'byte for byte');
  t.same(imageRows(s), [{ seq: d.seq, kind: 'frame', sha256: hash, bytes: frame.data.length }]);
  t.same(s.store.getById(d.id)?.image, { sha256: hash, stored: true }, 'the stored payload says so');
});

t.test('raw and PNG frames are encoded to JPEG; identical frames share one file', async (t) => {
  const s = tempStorage();
  t.teardown(() => s.store.close());
  const raw: Frame = {
    kind: 'raw',
    data: Buffer.alloc(32 * 24 * 3, 200),
    width: 32,
    height: 24,
    channels: 3,
    capturedAt: 1,
  };
  const png: Frame = {
    kind: 'encoded',
    data: await sharp({ create: { width: 20, height: 10, channels: 3, background: '#3060a0' } })
      .png()
      .toBuffer(),
    capturedAt: 1,
  };
  for (const frame of [raw, png]) {
    const d = await s.storage.record(draft({ verdict: 'NG' }), evidence(frame, s.clock));
    const file = join(s.imagesDir, (d.image?.sha256 ?? '').slice(0, 2), `${d.image?.sha256}.jpg`);
    const meta = await sharp(readFileSync(file)).metadata();
    t.equal(meta.format, 'jpeg');
    t.equal(meta.width, frame.kind === 'raw' ? 32 : 20);
    t.equal(d.image?.sha256, sha(readFileSync(file)), 'named by the hash of the stored bytes');
  }
  const twice = await s.storage.record(draft({ verdict: 'NG' }), evidence(raw, s.clock));
  t.equal(imageRows(s).length, 3);
  t.equal(walkImages(s.imagesDir).files, 2, 'the same frame is stored once');
  t.same(walkImages(s.imagesDir), { files: s.storage.images.files, bytes: s.storage.images.bytes });
  t.equal(twice.image?.stored, true);
});

t.test('detection results get an annotated copy; anomaly maps a PNG heat map', async (t) => {
  const s = tempStorage();
  t.teardown(() => s.store.close());
  const frame: Frame = {
    kind: 'encoded',
    data: await sharp({ create: { width: 120, height: 80, channels: 3, background: '#808080' } })
      .jpeg()
      .toBuffer(),
    capturedAt: 1,
  };
  const det = await s.storage.record(
    draft({
      verdict: 'NG',
      result: { task: 'detection', detections: [{ label: 'dent <1>', score: 0.91, box: [10, 10, 60, 50] }] },
    }),
    evidence(frame, s.clock),
  );
  const annotated = s.storage.image(det, 'annotated');
  t.ok(annotated.found, 'annotated copy stored');
  if (annotated.found) {
    t.equal(annotated.contentType, 'image/jpeg');
    const { data, info } = await sharp(annotated.data).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) =>
      data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3);
    const edge = at(10, 30);
    const [r, g, b] = [...edge] as [number, number, number];
    t.ok(r > g + 60 && r > b + 60, `the box edge is drawn red (${r},${g},${b}; the frame is grey)`);
    const inside = at(35, 30);
    t.ok(Math.abs((inside[0] as number) - 128) < 20, 'inside the box the frame shows through');
  }

  const map = new Float32Array(16 * 8);
  map[3 * 16 + 12] = 5; // one hot pixel
  const inference: Inference = {
    result: { task: 'anomaly', score: 0.8, threshold: 0.5 },
    model: { id: 'a', version: '1', sha256: 'x', provider: 'cpu' },
    sourceWidth: 120,
    sourceHeight: 80,
    timings: { preprocess: 0, queue: 0, inference: 0 },
    maps: { anomaly: { width: 16, height: 8, data: map } },
  };
  const an = await s.storage.record(
    draft({ verdict: 'NG', result: inference.result }),
    evidence(frame, s.clock, { inference }),
  );
  t.same(an.result, { task: 'anomaly', score: 0.8, threshold: 0.5, mapStored: true });
  const png = s.storage.image(an, 'anomaly-map');
  t.ok(png.found);
  if (png.found) {
    t.equal(png.contentType, 'image/png');
    const { data, info } = await sharp(png.data).raw().toBuffer({ resolveWithObject: true });
    t.same([info.width, info.height], [16, 8], 'in model-input pixels');
    const hot = data.subarray((3 * 16 + 12) * info.channels, (3 * 16 + 12) * info.channels + 3);
    t.same([...hot], [255, 0, 0], 'the anomalous pixel is red');
    t.same([...data.subarray(0, 3)], [0, 0, 255], 'a normal pixel is blue');
  }
  t.same(
    imageRows(s).map((r) => [r.seq, r.kind]),
    [
      [det.seq, 'annotated'],
      [det.seq, 'frame'],
      [an.seq, 'anomaly-map'],
      [an.seq, 'frame'],
    ],
  );
});

t.test('an image that cannot be written costs the image, never the verdict', async (t) => {
  const s = tempStorage();
  t.teardown(() => s.store.close());
  const frame = await jpegFrame();
  // the file's shard directory cannot be made: a real ENOTDIR/EEXIST from the file system
  writeFileSync(join(s.imagesDir, sha(frame.data).slice(0, 2)), 'in the way');
  const d = await s.storage.record(draft({ verdict: 'NG', image: null }), evidence(frame, s.clock));
  t.equal(d.verdict, 'NG');
  t.ok(s.store.getById(d.id), 'recorded');
  t.not(d.image?.stored, true);
  t.equal(s.storage.budget.drops.image_write_failed, 1, 'counted');
  t.same(imageRows(s), []);
});

t.test(
  'encoding that would run past the deadline is abandoned: the verdict is on time, counted',
  async (t) => {
    const s = tempStorage();
    t.teardown(() => s.store.close());
    const raw: Frame = {
      kind: 'raw',
      data: Buffer.alloc(1280 * 720 * 3, 90),
      width: 1280,
      height: 720,
      channels: 3,
      capturedAt: 1,
    };
    const pending = s.storage.record(
      draft({ verdict: 'NG' }),
      evidence(raw, s.clock, { dueAt: s.clock.now() + 10 }),
    );
    await s.clock.advance(10); // the deadline passes before the encoder (a libuv thread) can finish
    const d = await pending;
    t.not(d.image?.stored, true);
    t.equal(s.storage.budget.drops.image_late, 1);
    t.same(imageRows(s), []);
    t.equal(walkImages(s.imagesDir).files, 0, 'nothing half-written left behind');
  },
);

t.test('dropping several rows that share one file takes its bytes off the total once', async (t) => {
  const s = tempStorage();
  t.teardown(() => s.store.close());
  const other = await s.storage.record(draft({ verdict: 'NG' }), evidence(await jpegFrame(), s.clock));
  const repeated = await jpegFrame(); // a folder camera on loop: the same frame, three parts
  const shared = [];
  for (let i = 0; i < 3; i++) {
    shared.push(await s.storage.record(draft({ verdict: 'NG' }), evidence(repeated, s.clock)));
  }
  t.equal(imageRows(s).length, 4);
  t.equal(walkImages(s.imagesDir).files, 2);
  s.store.markSent(
    'json',
    shared.map((d) => d.seq),
  );
  const dropped = new Pruner(s.store.db, s.storage.images).dropSyncedImages();
  t.equal(dropped.images, 3, 'the three rows of the shared file');
  t.equal(dropped.bytes, repeated.data.length, 'one file freed');
  t.equal(walkImages(s.imagesDir).files, 1, 'the other decision keeps its file');
  t.ok(existsSync(s.storage.images.find(other.seq, 'frame')?.path ?? ''));
  t.same(
    { files: s.storage.images.files, bytes: s.storage.images.bytes },
    walkImages(s.imagesDir),
    'the running total is the files on disk',
  );
});

t.test('a frame needing an encode is not started for a fallback or in the last milliseconds', async (t) => {
  const s = tempStorage();
  t.teardown(() => s.store.close());
  const raw: Frame = {
    kind: 'raw',
    data: Buffer.alloc(64 * 48 * 3, 90),
    width: 64,
    height: 48,
    channels: 3,
    capturedAt: 1,
  };
  const fallback = await s.storage.record(
    draft({ verdict: 'UNCERTAIN', degraded: true }),
    evidence(raw, s.clock),
  );
  t.not(fallback.image?.stored, true, 'a fallback starts no encoder, even with time left');
  const lastMs = await s.storage.record(
    draft({ verdict: 'NG' }),
    evidence(raw, s.clock, { dueAt: s.clock.now() + STORE_MARGIN_MS - 1 }),
  );
  t.not(lastMs.image?.stored, true, 'too little time left to encode and still store by the deadline');
  t.equal(s.storage.budget.drops.image_late, 2, 'both counted');
  t.ok(s.store.getById(fallback.id) && s.store.getById(lastMs.id), 'both verdicts stored');
  t.equal(walkImages(s.imagesDir).files, 0);

  const jpeg = await jpegFrame(); // needs no encode: kept even for a fallback past its deadline
  const late = await s.storage.record(
    draft({ verdict: 'UNCERTAIN', degraded: true }),
    evidence(jpeg, s.clock, { dueAt: s.clock.now() - 10 }),
  );
  t.equal(late.image?.stored, true);
  t.equal(late.image?.sha256, sha(jpeg.data));
});

t.test('the encode wait ends STORE_MARGIN_MS before the deadline, leaving time to store', async (t) => {
  const s = tempStorage();
  t.teardown(() => s.store.close());
  const raw: Frame = {
    kind: 'raw',
    data: Buffer.alloc(1280 * 720 * 3, 90),
    width: 1280,
    height: 720,
    channels: 3,
    capturedAt: 1,
  };
  const pending = s.storage.record(
    draft({ verdict: 'NG' }),
    evidence(raw, s.clock, { dueAt: s.clock.now() + STORE_MARGIN_MS + 10 }),
  );
  await s.clock.advance(10); // the deadline is STORE_MARGIN_MS away: no more waiting for the encoder
  const d = await pending;
  t.not(d.image?.stored, true);
  t.equal(s.storage.budget.drops.image_late, 1);
  t.ok(s.store.getById(d.id));
});

t.test('the disk budget is checked after the verdict is returned, not before', async (t) => {
  // room for three frames and the store's tables (schema 6 added the rollout's), so the fourth tips it over
  const MAX_DISK_MB = 1.25;
  const s = tempStorage({ maxDiskMB: MAX_DISK_MB });
  t.teardown(() => s.store.close());
  const seqs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const frame = { kind: 'encoded' as const, data: await noiseJpeg(512), capturedAt: 1 };
    seqs.push((await s.storage.record(draft({ verdict: 'NG' }), evidence(frame, s.clock))).seq);
    await new Promise(setImmediate);
    await s.storage.budget.settled();
  }
  s.store.markSent('json', seqs);
  const frame = { kind: 'encoded' as const, data: await noiseJpeg(512), capturedAt: 1 };
  const d = await s.storage.record(draft({ verdict: 'NG' }), evidence(frame, s.clock));
  t.equal(d.image?.stored, true);
  t.equal(s.storage.budget.drops.image_synced, 0, 'nothing dropped while the part waited');
  await new Promise(setImmediate);
  await s.storage.budget.settled();
  t.ok(s.storage.budget.drops.image_synced > 0, 'then the budget drops synced images');
  t.ok(s.storage.budget.usage().totalBytes <= MAX_DISK_MB * 1024 * 1024, 'back within the budget');
});

t.test('files no row refers to (a crash between file and row) are removed at start', async (t) => {
  const s = tempStorage();
  const frame = await jpegFrame();
  const d = await s.storage.record(draft({ verdict: 'NG' }), evidence(frame, s.clock));
  s.store.close();
  mkdirSync(join(s.imagesDir, 'ab'), { recursive: true });
  const orphan = join(s.imagesDir, 'ab', `ab${'0'.repeat(62)}.jpg`);
  writeFileSync(orphan, 'written, then the power went');
  writeFileSync(`${orphan}.tmp`, 'half');
  const store = DecisionStore.open({ path: s.store.path, agentId: 'cell-1', log: quietLog });
  t.teardown(() => store.close());
  const again = Storage.open(
    store,
    { imagesDir: s.imagesDir, maxDiskMB: 64, retentionDays: 30, keepOkImageEvery: 50 },
    {
      clock: s.clock,
      log: quietLog,
      metrics: s.metrics,
      alerts: { raise: () => {} },
      events: new EventBus(quietLog),
    },
  );
  t.notOk(existsSync(orphan), 'orphan removed');
  t.notOk(existsSync(`${orphan}.tmp`), 'temp file removed');
  t.same(walkImages(s.imagesDir), { files: 1, bytes: frame.data.length }, 'the referenced file stays');
  t.same({ files: again.images.files, bytes: again.images.bytes }, walkImages(s.imagesDir), 'counted');
  const found = again.image(store.getById(d.id), 'frame');
  t.ok(found.found && found.data.equals(frame.data));
});
