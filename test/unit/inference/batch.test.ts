import t from 'tap';
import { splitOutputs, stackTensors } from '../../../agent/inference/batch.js';

t.test('frames stack along the first dimension and outputs split back per frame', async (t) => {
  const a = { data: Float32Array.from([1, 2, 3]), dims: [1, 3], type: 'float32' as const };
  const b = { data: Float32Array.from([4, 5, 6]), dims: [1, 3], type: 'float32' as const };
  const stacked = stackTensors([a, b]);
  t.same(stacked.dims, [2, 3]);
  t.same([...stacked.data], [1, 2, 3, 4, 5, 6]);
  t.equal(stackTensors([a]), a, 'one frame is passed through, not copied');
  const split = splitOutputs({ scores: { data: stacked.data, dims: [2, 3], type: 'float32' } }, 2);
  t.same(
    split?.map((o) => [...(o.scores?.data ?? [])]),
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
  );
  t.same(split?.[1]?.scores?.dims, [1, 3], 'each frame gets a batch of one');
});

t.test('an output without the batch in its first dimension does not split', async (t) => {
  const out = { data: new Float32Array(6), dims: [1, 6], type: 'float32' };
  t.equal(splitOutputs({ x: out }, 2), undefined);
  t.throws(() =>
    stackTensors([
      { data: new Float32Array(3), dims: [1, 3], type: 'float32' },
      { data: new Float32Array(4), dims: [1, 4], type: 'float32' },
    ]),
  );
});
