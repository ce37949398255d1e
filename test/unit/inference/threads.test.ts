import t from 'tap';
import { intraOpThreadsFor } from '../../../agent/inference/model-runner.js';

t.test('intra-op threads: as configured, else the cores left after one for decoding', async (t) => {
  t.equal(intraOpThreadsFor({ workers: 1, intraOpThreads: 0 }, 2), 1, 'a 2-core box: one');
  t.equal(intraOpThreadsFor({ workers: 2, intraOpThreads: 0 }, 2), 1, 'never none');
  t.equal(intraOpThreadsFor({ workers: 1, intraOpThreads: 0 }, 8), 7);
  t.equal(intraOpThreadsFor({ workers: 2, intraOpThreads: 0 }, 8), 3, 'shared by the workers');
  t.equal(intraOpThreadsFor({ workers: 1, intraOpThreads: 3 }, 2), 3, 'a configured count stands');
});
