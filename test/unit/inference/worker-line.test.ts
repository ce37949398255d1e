import t from 'tap';
import type { FrameReady, FromWorker, WireTensor } from '../../../agent/inference/protocol.js';
import { type LineDeps, WorkerLine } from '../../../agent/inference/worker-line.js';

/** A WorkerLine on fakes: runs finish when the test says, time moves when the test says. */
function harness(over: Partial<LineDeps> = {}) {
  const sent: FromWorker[] = [];
  const runs: { ids: number[]; finish: (fail?: Error) => void }[] = [];
  const timers: { due: number; fn: () => void; cancelled: boolean }[] = [];
  let now = 0;
  const deps: LineDeps = {
    run: (feeds) =>
      new Promise((resolve, reject) => {
        const input = Object.values(feeds)[0] as WireTensor;
        const ids = [...(input.data as Float32Array)];
        runs.push({
          ids,
          finish: (fail) => {
            if (fail) reject(fail);
            // one score per frame: its id, so a result that went to the wrong frame shows
            else
              resolve({
                outputs: { s: { data: Float32Array.from(ids), dims: [ids.length, 1], type: 'float32' } },
                release: () => {},
              });
          },
        });
      }),
    decode: (outputs) => {
      const v = (outputs.s as WireTensor).data[0] as number;
      if (v === 13) throw Object.assign(new Error('output 13 is NaN'), { code: 'EVA_ERR_INFERENCE_FAILED' });
      return { result: { task: 'classification', scores: { id: v } } };
    },
    stats: () => undefined,
    send: (m) => sent.push(m),
    now: () => now,
    setTimer: (fn, ms) => {
      const timer = { due: now + ms, fn, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
    inputName: 'input',
    maxBatch: 1,
    batchWaitMs: 0,
    ...over,
  };
  const line = new WorkerLine(deps);
  const ready = (id: number): FrameReady => ({
    type: 'ready',
    id,
    tensor: { data: Float32Array.of(id), dims: [1, 1], type: 'float32' },
    geometry: { sourceWidth: 1, sourceHeight: 1, scaleX: 1, scaleY: 1, padX: 0, padY: 0 },
    sourceWidth: 1,
    sourceHeight: 1,
    preprocessMs: 0,
  });
  const settle = () => new Promise((r) => setImmediate(r));
  const judged = () =>
    sent.flatMap((m) =>
      m.type === 'judged' && m.result.task === 'classification' ? [[m.id, m.result.scores.id, m.batch]] : [],
    );
  return {
    line,
    sent,
    runs,
    timers,
    ready,
    settle,
    judged,
    advance: (ms: number) => {
      now += ms;
      for (const timer of timers.filter((x) => !x.cancelled && x.due <= now)) {
        timer.cancelled = true;
        timer.fn();
      }
    },
  };
}

t.test('frames run in the order they were handed over, whatever order their decodes end in', async (t) => {
  const h = harness();
  for (const id of [1, 2, 3]) h.line.addFrame(id);
  h.line.frameReady(h.ready(3));
  h.line.frameReady(h.ready(2));
  t.equal(h.runs.length, 0, 'frame 1 is still decoding: nothing runs past it');
  h.line.frameReady(h.ready(1));
  for (const expected of [1, 2, 3]) {
    t.same(h.runs.at(-1)?.ids, [expected], `frame ${expected} runs alone (no batching)`);
    h.runs.at(-1)?.finish();
    await h.settle();
  }
  t.same(h.judged(), [
    [1, 1, 1],
    [2, 2, 1],
    [3, 3, 1],
  ]);
  await h.line.whenIdle();
});

t.test('frames ready while the session is busy go through the next run together', async (t) => {
  const h = harness({ maxBatch: 4 });
  for (const id of [1, 2, 3, 4, 5, 6]) h.line.addFrame(id);
  h.line.frameReady(h.ready(1));
  t.same(h.runs[0]?.ids, [1], 'no wait: the first frame runs at once, alone');
  for (const id of [2, 3, 4, 5, 6]) h.line.frameReady(h.ready(id));
  h.runs[0]?.finish();
  await h.settle();
  t.same(h.runs[1]?.ids, [2, 3, 4, 5], 'then at most maxBatch frames in one run');
  h.runs[1]?.finish();
  await h.settle();
  t.same(h.runs[2]?.ids, [6]);
  h.runs[2]?.finish();
  await h.settle();
  t.same(
    h.judged(),
    [
      [1, 1, 1],
      [2, 2, 4],
      [3, 3, 4],
      [4, 4, 4],
      [5, 5, 4],
      [6, 6, 1],
    ],
    'each frame gets its own slice of the outputs',
  );
});

t.test('a ready frame waits at most batchWaitMs for company', async (t) => {
  const h = harness({ maxBatch: 3, batchWaitMs: 5 });
  for (const id of [1, 2, 3, 4]) h.line.addFrame(id);
  h.line.frameReady(h.ready(1));
  t.equal(h.runs.length, 0, 'waiting for company');
  h.advance(2);
  h.line.frameReady(h.ready(2));
  t.equal(h.runs.length, 0, 'still under the wait');
  h.advance(3);
  t.same(h.runs[0]?.ids, [1, 2], 'the wait is over: what is ready goes');
  h.line.frameReady(h.ready(3));
  h.line.frameReady(h.ready(4));
  h.runs[0]?.finish();
  await h.settle();
  t.equal(h.runs.length, 1, 'frames 3 and 4 wait for a third');
  h.line.addFrame(5);
  h.line.frameReady(h.ready(5));
  t.same(h.runs[1]?.ids, [3, 4, 5], 'a full batch goes without waiting out the timer');
  t.ok(
    h.timers.every((x) => x.cancelled),
    'no timer left behind',
  );
});

t.test(
  'a cancelled frame is dropped unless its run has begun, and only once its decode is over',
  async (t) => {
    const h = harness();
    for (const id of [1, 2, 3]) h.line.addFrame(id);
    h.line.frameReady(h.ready(1));
    h.line.frameReady(h.ready(2));
    h.line.cancel(1); // running: its answer comes as usual
    h.line.cancel(2); // ready, waiting: dropped now
    h.line.cancel(3); // still decoding: dropped when the decode is over
    t.same(
      h.sent.map((m) => [m.type, 'id' in m ? m.id : 0]),
      [['cancelled', 2]],
    );
    t.notOk(
      await Promise.race([h.line.whenIdle().then(() => true), h.settle().then(() => false)]),
      'busy while 3 decodes',
    );
    h.line.frameReady(h.ready(3));
    h.runs[0]?.finish();
    await h.settle();
    t.same(
      h.sent.map((m) => [m.type, 'id' in m ? m.id : 0]),
      [
        ['cancelled', 2],
        ['cancelled', 3],
        ['judged', 1],
      ],
    );
    t.equal(h.runs.length, 1, 'only frame 1 ran');
    await h.line.whenIdle();
  },
);

t.test('failures: the session fails the whole run, a frame or its outputs only itself', async (t) => {
  const h = harness({ maxBatch: 4 });
  h.line.addFrame(1);
  h.line.addFrame(2);
  h.line.frameReady(h.ready(1));
  h.line.frameReady({ type: 'failed', id: 2, code: 'EVA_ERR_FRAME_DECODE', error: 'truncated' });
  h.line.frameReady(h.ready(13)); // before the pool's word about it: kept until that comes
  for (const id of [13, 3, 4, 5]) h.line.addFrame(id);
  h.line.frameReady(h.ready(3));
  h.runs[0]?.finish(new Error('CUDA failure'));
  await h.settle();
  t.same(h.runs[1]?.ids, [13, 3], 'the ready head of the line runs together');
  h.runs[1]?.finish();
  await h.settle();
  h.line.decoderLost('the decode worker died');
  const outcome = h.sent.map((m) => [m.type, 'id' in m ? m.id : 0, 'code' in m ? m.code : '']);
  t.same(outcome, [
    ['job-failed', 2, 'EVA_ERR_FRAME_DECODE'],
    ['run-failed', 1, ''],
    ['job-failed', 13, 'EVA_ERR_INFERENCE_FAILED'],
    ['judged', 3, ''],
    ['job-failed', 4, 'EVA_ERR_WORKER_DIED'],
    ['job-failed', 5, 'EVA_ERR_WORKER_DIED'],
  ]);
  await h.line.whenIdle();
});

t.test(
  'outputs that do not split per frame: the frames run again one by one, and from then on',
  async (t) => {
    const runs: number[][] = [];
    // a session whose output keeps a batch of one whatever it was fed
    const h = harness({
      maxBatch: 2,
      run: async (feeds) => {
        const ids = [...((Object.values(feeds)[0] as WireTensor).data as Float32Array)];
        runs.push(ids);
        const data = Float32Array.of(ids[0] as number);
        return { outputs: { s: { data, dims: [1, 1], type: 'float32' } }, release: () => {} };
      },
    });
    for (const id of [1, 2, 3, 4, 5]) h.line.addFrame(id);
    for (const id of [1, 2, 3]) h.line.frameReady(h.ready(id));
    await h.settle();
    for (const id of [4, 5]) h.line.frameReady(h.ready(id));
    await h.line.whenIdle();
    t.same(runs, [[1], [2, 3], [2], [3], [4], [5]]);
    t.same(
      h.judged().map((j) => j[0]),
      [1, 2, 3, 4, 5],
      'every frame judged once',
    );
  },
);
