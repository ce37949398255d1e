import t, { type Test } from 'tap';
import type { Frame } from '../../agent/capture/index.js';
import { type Decision, Inspector } from '../../agent/decision/index.js';
import { ModelRunner } from '../../agent/inference/index.js';
import { AgentMetrics } from '../../agent/metrics.js';
import { systemClock } from '../../agent/service.js';
import { WASHER_MODEL } from '../helpers/agent-process.js';
import { quietLog, tempStore } from '../helpers/fixtures.js';
import {
  goodJpeg,
  jpegWithExtraneousBytes,
  mutateFrame,
  svgEntityBomb,
  tinyImage,
  truncatedJpegWithEnd,
} from '../helpers/frame-fuzz.js';

// The washer model (128x128 input) judging frames no camera should send: each must end as ERROR with its
// reason, never as a confident OK/NG, and never reach a decoder it could hold up.

const frame = (data: Buffer, name = 'frame.jpg'): Frame => ({
  kind: 'encoded',
  data,
  capturedAt: Date.now(),
  name,
});

async function washer(t: Test): Promise<ModelRunner> {
  const r = new ModelRunner(
    { id: 'washer', path: WASHER_MODEL, providers: ['cpu'], workers: 1, intraOpThreads: 0 },
    quietLog,
  );
  t.teardown(() => r.stop());
  await r.start();
  t.equal(r.state, 'ready', r.snapshot().error ?? 'ready');
  return r;
}

/** The real pipeline from shot to stored decision: Inspector, the washer model, a real SQLite store. */
function inspector(t: Test, model: ModelRunner) {
  const { store } = tempStore();
  t.teardown(() => store.close());
  const inspect = new Inspector({
    cameraId: 'cam-1',
    deadlineMs: 5_000,
    rules: { minScore: 0.5, uncertainBelow: 0.2, ngClasses: ['scratch', 'dent'] },
    model,
    record: (d) => store.record(d),
    clock: systemClock,
    log: quietLog,
    metrics: new AgentMetrics(false),
  });
  return (f: Frame): Promise<Decision> =>
    inspect.inspect({ triggeredAt: Date.now(), frame: Promise.resolve(f) });
}

t.test('a JPEG cut short with an end marker appended is ERROR "truncated", not a verdict', async (t) => {
  const judge = inspector(t, await washer(t));
  for (const fraction of [0.3, 0.5, 0.8]) {
    const d = await judge(frame(truncatedJpegWithEnd(goodJpeg(2), fraction)));
    t.equal(d.verdict, 'ERROR', `cut at ${fraction}: ${d.reason}`);
    t.match(
      d.reason,
      /^frame could not be decoded: truncated image \(VipsJpeg: .*premature end of data segment/,
    );
    t.equal(d.model, null, 'no model output in the record');
  }
  const whole = await judge(frame(goodJpeg(2)));
  t.not(whole.verdict, 'ERROR', 'the same frame whole is judged');
});

t.test('a frame far smaller than the model input is ERROR, with the smallest size it judges', async (t) => {
  const judge = inspector(t, await washer(t));
  const one = await judge(frame(await tinyImage(1, 1)));
  t.equal(one.verdict, 'ERROR');
  t.equal(one.reason, 'frame of 1x1 is too small for model input 128x128 (at least 32x32)');
  const png = await judge(frame(await tinyImage(31, 200, 'png'), 'thin.png'));
  t.equal(png.verdict, 'ERROR', 'one side too small is enough');
  const enough = await judge(frame(await tinyImage(32, 32)));
  t.not(enough.verdict, 'ERROR', `32x32 is a quarter of the input: judged (${enough.reason})`);
});

t.test('an SVG (or anything but JPEG, PNG, TIFF) is refused by its header, never rendered', async (t) => {
  const r = await washer(t);
  const judge = inspector(t, r);
  const d = await judge(frame(svgEntityBomb(2), 'bomb.jpg'));
  t.equal(d.verdict, 'ERROR');
  t.match(
    d.reason,
    /^frame could not be decoded: unsupported image format: not a JPEG, PNG or TIFF image \(starts with "<\?xml/,
  );
  // the campaign's bomb: had libvips rendered it, this would hold a libuv thread (and the exit) for minutes
  await t.rejects(r.infer(frame(svgEntityBomb(3))), { code: 'EVA_ERR_FRAME_DECODE' });
  const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
  await t.rejects(r.infer(frame(gif, 'x.gif')), { message: /not a JPEG, PNG or TIFF image/ });
});

t.test('a whole frame with a harmless decoder warning is still judged', async (t) => {
  const judge = inspector(t, await washer(t));
  const d = await judge(frame(jpegWithExtraneousBytes(goodJpeg(3))));
  t.not(d.verdict, 'ERROR', d.reason);
});

t.test('mutated frames: each one a verdict or a coded decode error, nothing else', async (t) => {
  const r = await washer(t);
  const base = goodJpeg(4);
  const outcomes = { judged: 0, refused: 0 };
  for (let seed = 1; seed <= 60; seed++) {
    try {
      await r.infer(frame(mutateFrame(base, seed)));
      outcomes.judged++;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'EVA_ERR_FRAME_DECODE') t.fail(`seed ${seed}: ${code} ${(err as Error).message}`);
      outcomes.refused++;
    }
  }
  t.equal(outcomes.judged + outcomes.refused, 60, JSON.stringify(outcomes));
  t.ok(outcomes.refused > 0, 'some mutations are refused');
});

t.test('a file the folder source refused is ERROR with its reason and keeps its reference', async (t) => {
  const model = await washer(t);
  const { store } = tempStore();
  t.teardown(() => store.close());
  const inspect = new Inspector({
    cameraId: 'cam-1',
    deadlineMs: 5_000,
    rules: { minScore: 0.5, uncertainBelow: 0.2, ngClasses: ['scratch', 'dent'] },
    model,
    record: (d) => store.record(d),
    clock: systemClock,
    log: quietLog,
    metrics: new AgentMetrics(false),
  });
  const refused: Frame = {
    ...frame(svgEntityBomb(3), 'bomb.jpg'),
    ref: 'file:bomb.jpg|320|1000',
    problem: 'bomb.jpg: unsupported image format: not a JPEG, PNG or TIFF image (starts with "<?xml")',
  };
  const d = await inspect.inspect({ triggeredAt: Date.now(), frame: Promise.resolve(refused) });
  t.equal(d.verdict, 'ERROR');
  t.equal(d.reason, `frame could not be decoded: ${refused.problem}`);
  t.equal(d.image, null, 'nothing decoded, nothing stored');
  t.ok(store.hasSourceRef('cam-1', 'file:bomb.jpg|320|1000'), 'a restart does not judge the file again');
});
