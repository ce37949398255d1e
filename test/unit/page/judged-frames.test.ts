import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Frame } from '../../../agent/capture/index.js';
import type { Decision } from '../../../agent/decision/index.js';
import { EventBus } from '../../../agent/events.js';
import { JUDGED_MIN_INTERVAL_MS, JudgedFrames } from '../../../agent/page/index.js';
import { SAMPLES } from '../../helpers/agent-process.js';
import { draft, quietLog } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';

const photo: Frame = { kind: 'encoded', data: readFileSync(join(SAMPLES, '0001.jpg')), capturedAt: 1 };
const broken: Frame = { kind: 'encoded', data: Buffer.from('not a jpeg at all'), capturedAt: 1 };

function setup() {
  const clock = new ManualClock();
  const events = new EventBus(quietLog);
  const judged = new JudgedFrames(['cam-1'], { clock, events, log: quietLog });
  let seq = 0;
  const store = (frame?: Frame, cameraId = 'cam-1', verdict: Decision['verdict'] = 'OK') => {
    seq += 1;
    const decision: Decision = {
      ...draft({ cameraId, verdict }),
      schema: 1,
      id: `d-${seq}`,
      seq,
      agentId: 'a',
      historical: false,
    };
    events.emit('DecisionStored', { decision, ...(frame ? { evidence: { frame, dueAt: 0 } } : {}) });
    return seq;
  };
  return { clock, events, judged, store };
}

t.test('annotated on demand, once per decision, at most once a second per camera', async (t) => {
  const { clock, judged, store } = setup();
  await judged.start();
  t.teardown(() => judged.stop());
  await t.rejects(judged.get('cam-1'), { code: 'EVA_ERR_FRAME_UNAVAILABLE' }, 'nothing judged yet');
  await t.rejects(judged.get('cam-9'), { code: 'EVA_ERR_CAMERA_NOT_FOUND' });

  store(photo);
  const first = await judged.get('cam-1');
  t.equal(first.decision.seq, 1);
  t.equal(await judged.get('cam-1'), first, 'the same decision: the same image, not drawn again');
  const [a, b] = await Promise.all([judged.get('cam-1'), judged.get('cam-1')]);
  t.equal(a, b);

  store(photo);
  t.equal(
    (await judged.get('cam-1')).decision.seq,
    1,
    'a newer decision within the second: the last drawn one',
  );
  await clock.advance(JUDGED_MIN_INTERVAL_MS);
  t.equal((await judged.get('cam-1')).decision.seq, 2, 'a second later: the newest');

  store(); // a decision without a frame (a camera error) leaves the last frame in place
  await clock.advance(JUDGED_MIN_INTERVAL_MS);
  t.equal((await judged.get('cam-1')).decision.seq, 2);
  store(photo, 'cam-other'); // another camera's decisions are not this tile's
  t.equal((await judged.get('cam-1')).decision.seq, 2);
});

t.test('a frame that cannot be drawn keeps the last good image and is not tried again', async (t) => {
  const { clock, judged, store } = setup();
  await judged.start();
  t.teardown(() => judged.stop());
  store(broken);
  await t.rejects(judged.get('cam-1'), { code: 'EVA_ERR_FRAME_UNAVAILABLE', message: /could not be drawn/ });
  await t.rejects(judged.get('cam-1'), { message: /has not judged a frame/ }, 'not tried again');
  store(photo);
  const good = await judged.get('cam-1');
  t.equal(good.decision.seq, 2);
  await clock.advance(JUDGED_MIN_INTERVAL_MS);
  store(broken);
  t.equal(await judged.get('cam-1'), good, 'the last good image stays');
});

t.test('an ERROR (its frame could not be read) leaves the last judged frame on the tile', async (t) => {
  const { clock, judged, store } = setup();
  await judged.start();
  t.teardown(() => judged.stop());
  store(photo);
  store(broken, 'cam-1', 'ERROR'); // both before anyone looked: the OK one is drawn, not the unreadable one
  t.equal((await judged.get('cam-1')).decision.seq, 1);
  await clock.advance(JUDGED_MIN_INTERVAL_MS);
  store(broken, 'cam-1', 'ERROR');
  t.equal((await judged.get('cam-1')).decision.seq, 1);
});

t.test('stop lets go of the frames and the listener', async (t) => {
  const { judged, events, store } = setup();
  await judged.start();
  store(photo);
  await judged.stop();
  t.equal(events.listenerCount('judged-frames'), 0);
});
