import t from 'tap';
import type { AlertInput } from '../../../agent/alerts.js';
import { CameraAlerts } from '../../../agent/drift/index.js';

function alerts() {
  const raised: AlertInput[] = [];
  const a = new CameraAlerts('cam-1', { raise: (x) => raised.push(x) });
  return { a, raised };
}

t.test('a window alert needs 2 breaching windows in a row and clears after 3 clean ones', async (t) => {
  const { a, raised } = alerts();
  const msg = () => 'input drift';
  a.window('DRIFT_INPUT', true, msg, 'back');
  a.window('DRIFT_INPUT', false, msg, 'back');
  a.window('DRIFT_INPUT', true, msg, 'back');
  t.same(raised, [], 'one breaching window at a time raises nothing');
  a.window('DRIFT_INPUT', null, msg, 'back');
  a.window('DRIFT_INPUT', true, msg, 'back');
  t.same(
    raised,
    [{ code: 'DRIFT_INPUT', severity: 'warning', cameraId: 'cam-1', message: 'input drift', active: true }],
    'an unjudged window does not break the streak',
  );
  a.window('DRIFT_INPUT', false, msg, 'back');
  a.window('DRIFT_INPUT', false, msg, 'back');
  a.window('DRIFT_INPUT', true, msg, 'back');
  a.window('DRIFT_INPUT', false, msg, 'back');
  a.window('DRIFT_INPUT', false, msg, 'back');
  t.equal(raised.length, 1, 'two clean windows do not clear it');
  a.window('DRIFT_INPUT', false, msg, 'back');
  t.match(raised[1], { code: 'DRIFT_INPUT', active: false, message: 'back' });
  t.same(a.active(), []);
});

t.test(
  'CAMERA_UNFIT counts frames: 3 unfit in a row raise it (critical), 10 fit in a row clear it',
  async (t) => {
    const { a, raised } = alerts();
    a.frame('image too dark');
    a.frame('image too dark');
    a.frame(undefined);
    a.frame('image too dark');
    a.frame('image too dark');
    t.equal(raised.length, 0, 'a glitched frame or two is no unfit camera');
    a.frame('image too dark: brightness 12 vs baseline 96-140');
    t.match(raised[0], {
      code: 'CAMERA_UNFIT',
      severity: 'critical',
      active: true,
      message: 'camera cam-1 is unfit to judge: image too dark: brightness 12 vs baseline 96-140',
    });
    for (let i = 0; i < 9; i++) a.frame(undefined);
    t.equal(raised.length, 1);
    a.frame(undefined);
    t.match(raised[1], { code: 'CAMERA_UNFIT', active: false });
  },
);

t.test(
  'clearAll ends every active drift alert with the reason; restate says them again after a restart',
  async (t) => {
    const { a, raised } = alerts();
    for (let i = 0; i < 2; i++) a.window('DRIFT_OUTPUT', true, () => 'output drift', 'back');
    for (let i = 0; i < 3; i++) a.frame('image blurred');
    t.same(a.active(), ['DRIFT_OUTPUT', 'CAMERA_UNFIT']);
    const restarted = alerts();
    Object.assign(restarted.a.memory, JSON.parse(JSON.stringify(a.memory)));
    restarted.a.restate();
    t.same(
      restarted.raised.map((r) => [r.code, r.active]),
      [
        ['DRIFT_OUTPUT', true],
        ['CAMERA_UNFIT', true],
      ],
    );
    a.clearAll('model changed');
    t.same(
      raised.slice(-2).map((r) => [r.code, r.active, r.message]),
      [
        ['DRIFT_OUTPUT', false, 'model changed'],
        ['CAMERA_UNFIT', false, 'model changed'],
      ],
    );
    t.same(a.active(), []);
  },
);
