import t from 'tap';
import { buildHttpApp } from '../../../agent/http/index.js';
import { IMAGE_KINDS } from '../../../agent/store/index.js';
import { draft } from '../../helpers/fixtures.js';
import { stubHttpDeps } from '../../helpers/http-deps.js';
import { evidence, noiseJpeg, tempStorage } from '../../helpers/storage.js';

t.test('GET /api/decisions/:id/image answers the stored JPEG, or 404 with the reason', async (t) => {
  const s = tempStorage({ keepOkImageEvery: 0 });
  t.teardown(() => s.store.close());
  const app = buildHttpApp(stubHttpDeps({ image: (id, kind) => s.storage.image(s.store.getById(id), kind) }));
  t.teardown(() => app.close());
  const frame = { kind: 'encoded' as const, data: await noiseJpeg(48), capturedAt: 1 };
  const ng = await s.storage.record(draft({ verdict: 'NG' }), evidence(frame, s.clock));
  const ok = await s.storage.record(draft({ verdict: 'OK' }), evidence(frame, s.clock));

  const res = await app.inject(`/api/decisions/${ng.id}/image`);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'image/jpeg');
  t.same(res.rawPayload, frame.data, 'the frame as stored');
  t.equal(res.headers.etag, `"${ng.image?.sha256}"`);

  const notKept = await app.inject(`/api/decisions/${ok.id}/image`);
  t.equal(notKept.statusCode, 404);
  t.match(notKept.json(), { status: 'error', error: /no image was kept.*keepOkImageEvery/ });

  const noMap = await app.inject(`/api/decisions/${ng.id}/image?kind=anomaly-map`);
  t.equal(noMap.statusCode, 404);
  t.match(noMap.json().error, /no anomaly-map image was kept/);
  t.equal((await app.inject(`/api/decisions/${ng.id}/image?kind=thumbnail`)).statusCode, 400);
  for (const kind of IMAGE_KINDS) {
    const res = await app.inject(`/api/decisions/${ng.id}/image?kind=${kind}`);
    t.not(res.statusCode, 400, `every kind the store keeps is asked for, not refused: ${kind}`);
  }
  const unknown = await app.inject('/api/decisions/nope/image');
  t.equal(unknown.statusCode, 404);
  t.match(unknown.json().error, /no such decision/);

  // dropped to stay within the budget: the payload still says it was stored, the answer says why it is gone
  s.store.markSent('json', [ng.seq, ok.seq]);
  const { Pruner } = await import('../../../agent/store/index.js');
  new Pruner(s.store.db, s.storage.images).dropSyncedImages();
  const dropped = await app.inject(`/api/decisions/${ng.id}/image`);
  t.equal(dropped.statusCode, 404);
  t.match(dropped.json().error, /dropped/);
});
