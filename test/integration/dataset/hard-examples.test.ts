import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { HardExampleStore } from '../../../agent/dataset/index.js';
import { AuditLog } from '../../../agent/store/index.js';
import { auditRequestHandlers } from '../../../agent/sync/index.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { flush } from '../../helpers/manual-clock.js';
import { sampleFrame } from '../../helpers/model-versions.js';
import { tempStorage } from '../../helpers/storage.js';

const POLICY = { enabled: true, maxShare: 0.1, marginBelow: 0.2, entropyAbove: 0.8, anomalyWithin: 0.05 };
const SURE = { ok: 0.97, scratch: 0.02, dent: 0.01 };
const CLOSE = { ok: 0.5, scratch: 0.42, dent: 0.08 };

async function setup(t: Test, opts: { maxDiskMB?: number; maxShare?: number; cameras?: string[] } = {}) {
  const s = tempStorage({ maxDiskMB: opts.maxDiskMB ?? 64, keepOkImageEvery: 0 });
  const hard = new HardExampleStore({
    connection: s.store,
    dir: join(s.dir, 'hard-examples'),
    imagesDir: s.imagesDir,
    options: { ...POLICY, maxShare: opts.maxShare ?? POLICY.maxShare },
    budget: () => s.storage.budget,
    cameras: opts.cameras ?? ['cam-1'],
    events: s.events,
    clock: s.clock,
    log: quietLog,
  });
  await hard.start();
  t.teardown(async () => {
    await hard.stop();
    s.store.close();
  });
  /** One part through the store as the inspector hands it over: the decision, and the frame as evidence. */
  const record = async (
    n: number,
    scores: Record<string, number>,
    verdict: 'OK' | 'NG' | 'UNCERTAIN' = 'OK',
  ) => {
    const frame = sampleFrame(n);
    // as the inspector gives it: the frame's hash, stored or not
    const image = { sha256: createHash('sha256').update(frame.data).digest('hex'), stored: false };
    const d = await s.storage.record(draft({ verdict, image, result: { task: 'classification', scores } }), {
      frame,
      dueAt: s.clock.now() + 1_000,
    });
    await hard.settled();
    return d;
  };
  const rows = () =>
    s.store.db
      .prepare(
        'SELECT camera_id AS cameraId, decision_id AS decisionId, reasons, bytes FROM hard_examples ORDER BY id',
      )
      .all() as {
      cameraId: string;
      decisionId: string | null;
      reasons: string;
      bytes: number;
    }[];
  return { ...s, hard, record, rows };
}

t.test('close calls are kept with their reasons; sure verdicts are not', async (t) => {
  const h = await setup(t);
  await h.record(1, SURE);
  const close = await h.record(2, CLOSE);
  const uncertain = await h.record(3, { ok: 0.7, scratch: 0.25, dent: 0.05 }, 'UNCERTAIN');
  t.same(
    h.rows().map((r) => [r.decisionId, r.reasons]),
    [
      [close.id, 'small-margin,high-entropy'],
      [uncertain.id, 'uncertain'],
    ],
  );
  t.equal(readdirSync(join(h.dir, 'hard-examples', 'cam-1')).length, 2);
  t.match(h.hard.snapshot(), { files: 2 });
});

t.test('a verdict a plant outcome corrected is kept, from the image store', async (t) => {
  const h = await setup(t);
  // the audit log tells OutcomeRecorded once the outcome's row is committed
  const audit = new AuditLog(h.store, () => h.clock.now(), h.events);
  const requests = auditRequestHandlers(audit, h.events);
  const ng = await h.record(4, { ok: 0.02, scratch: 0.03, dent: 0.95 }, 'NG'); // NG frames are stored
  t.same(h.rows(), [], 'a sure NG is not a hard example');
  await requests.outcome({ decisionId: ng.id, actual: 'NG' }, { via: 'mqtt' });
  await h.hard.settled();
  t.same(h.rows(), [], 'an outcome that agrees changes nothing');
  await requests.outcome({ decisionId: ng.id, actual: 'OK' }, { via: 'mqtt' });
  await flush();
  await h.hard.settled();
  t.match(h.rows(), [{ decisionId: ng.id, reasons: 'corrected-outcome' }]);
  t.ok(existsSync(join(h.dir, 'hard-examples', 'cam-1', `${ng.image?.sha256}.jpg`)));
});

t.test('each camera keeps at most its share; the oldest go first', async (t) => {
  // a share of the 64 MB budget that holds two and a half of these frames per camera (two cameras)
  const largest = Math.max(...[1, 2, 3, 4].map((n) => sampleFrame(n).data.length));
  const perCamera = 2.5 * largest;
  const h = await setup(t, { maxShare: (2 * perCamera) / (64 * 1024 * 1024), cameras: ['cam-1', 'cam-2'] });
  const kept: string[] = [];
  for (let i = 1; i <= 4; i++) kept.push((await h.record(i, CLOSE)).id);
  const rows = h.rows();
  t.equal(rows.length, 2, 'two fit');
  t.same(
    rows.map((r) => r.decisionId),
    kept.slice(2),
    'the newest two stay',
  );
  t.ok(rows.reduce((n, r) => n + r.bytes, 0) <= perCamera, 'within the camera share');
  t.equal(readdirSync(join(h.dir, 'hard-examples', 'cam-1')).length, 2, 'the files of the others are gone');
});

t.test(
  'a frame the shadow judged otherwise is kept, linked to its decision whichever comes first',
  async (t) => {
    const h = await setup(t);
    const frame = sampleFrame(5);
    const frameSha256 = createHash('sha256').update(frame.data).digest('hex');
    const compared = {
      modelId: 'washer',
      cameraId: 'cam-1',
      frame,
      frameSha256,
      activeVersion: '1',
      shadowVersion: '2',
      activeVerdict: 'OK',
      shadowVerdict: 'NG',
      agree: false,
      error: null,
    };
    h.events.emit('ShadowCompared', compared); // the shadow finished before the decision was stored
    await h.hard.settled();
    t.match(h.rows(), [{ decisionId: null, reasons: 'shadow-disagreement' }]);
    const d = await h.record(5, SURE);
    t.match(
      h.rows(),
      [{ decisionId: d.id, reasons: 'shadow-disagreement' }],
      'linked once the decision came',
    );
    h.events.emit('ShadowCompared', { ...compared, agree: true, frameSha256: 'f'.repeat(64) });
    await h.hard.settled();
    t.equal(h.rows().length, 1, 'agreement is not kept');
  },
);

t.test('while the store has no room for images, no hard example is written', async (t) => {
  const h = await setup(t);
  Object.defineProperty(h.storage.budget, 'imagesAllowed', { value: () => false });
  await h.record(2, CLOSE);
  t.same(h.rows(), []);
});
