import { createHash } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import t from 'tap';
import { FrameHasher, sha256Now } from '../../../agent/decision/index.js';
import { quietLog } from '../../helpers/fixtures.js';

// The FrameHasher hashes frames on a worker thread; whatever happens to the worker, every frame gets its
// right hash (never a failed part).

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function frames(): Buffer[] {
  const big = Buffer.alloc(700_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  return [
    Buffer.from('jpeg'),
    big,
    big.subarray(1000, 5000), // a view into a larger buffer (a multipart reader's frame)
    Buffer.alloc(0),
  ];
}

t.test('hashes on the worker: the same sha256 as in place, for whole buffers and views', async (t) => {
  const hasher = new FrameHasher(quietLog);
  await hasher.start();
  t.teardown(() => hasher.stop());
  const input = frames();
  const got = await Promise.all(input.map((f) => hasher.hash(f)));
  t.same(got, input.map(sha));
  t.same(await Promise.all(input.map((f) => sha256Now(f))), input.map(sha), 'sha256Now too');
  const worker = (hasher as unknown as { worker?: Worker }).worker;
  t.ok(worker, 'a worker did the hashing');
  t.equal(input[1]?.length, 700_000, 'the frame is still whole in this thread (copied, not transferred)');
});

t.test('a worker that dies: frames in flight and after are still hashed, right', async (t) => {
  const logs: string[] = [];
  const log = quietLog.child({});
  log.warn = ((_obj: unknown, msg: string) => {
    logs.push(msg);
  }) as typeof log.warn;
  const hasher = new FrameHasher(log);
  await hasher.start();
  t.teardown(() => hasher.stop());
  const input = frames();
  t.equal(await hasher.hash(input[0] as Buffer), sha(input[0] as Buffer), 'started');
  for (let round = 0; round < 3; round++) {
    const inFlight = input.map((f) => hasher.hash(f)); // (re)starts the worker
    const worker = (hasher as unknown as { worker?: Worker }).worker;
    t.ok(worker, `round ${round}: hashing on a worker`);
    const exited = new Promise((resolve) => worker?.once('exit', resolve));
    await worker?.terminate(); // dies under its frames
    await exited;
    t.same(await Promise.all(inFlight), input.map(sha), `round ${round}: every frame in flight hashed`);
  }
  t.equal((hasher as unknown as { worker?: Worker }).worker, undefined);
  t.ok(
    logs.some((m) => /hashed on the event loop from now on/.test(m)),
    'after 3 failures: in place for good',
  );
  t.same(await Promise.all(input.map((f) => hasher.hash(f))), input.map(sha), 'and still right');
});

t.test('after stop, frames are hashed in place', async (t) => {
  const hasher = new FrameHasher(quietLog);
  await hasher.start();
  const input = frames();
  const before = input.map((f) => hasher.hash(f));
  await hasher.stop();
  t.same(await Promise.all(before), input.map(sha), 'frames in flight at stop');
  t.same(await Promise.all(input.map((f) => hasher.hash(f))), input.map(sha), 'frames after stop');
});
