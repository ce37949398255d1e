import t from 'tap';
import { LogLimit } from '../../agent/log-limit.js';

t.test('one line per window per key; the next one written says how many were held', async (t) => {
  const limit = new LogLimit({ windowMs: 1_000 });
  t.same(limit.take('a', 0), { write: true, held: 0 });
  t.same(limit.take('a', 10), { write: false, heldInWindow: 1 });
  t.same(limit.take('a', 999), { write: false, heldInWindow: 2 });
  t.same(limit.take('b', 500), { write: true, held: 0 }, 'keys are limited apart');
  t.equal(limit.held('a'), 2);
  t.same(limit.take('a', 1_000), { write: true, held: 2 }, 'a new window writes, with the count held');
  t.equal(limit.held('a'), 0);
  t.same(limit.take('a', 1_500), { write: false, heldInWindow: 1 }, 'the window opened at the last line');
});

t.test('forget starts a key over: written at once, the held count dropped', async (t) => {
  const limit = new LogLimit({ windowMs: 1_000 });
  limit.take('op', 0);
  limit.take('op', 1);
  limit.forget('op');
  t.same(limit.take('op', 2), { write: true, held: 0 });
});

t.test(
  'aligned windows with a budget: max lines per grid window, the count of held ones per window',
  async (t) => {
    const limit = new LogLimit({ windowMs: 60_000, max: 2, aligned: true });
    const at = 120_000 + 59_000; // one second before the grid window ends
    t.same(limit.take('k', at), { write: true, held: 0 });
    t.same(limit.take('k', at + 1), { write: true, held: 0 });
    t.same(limit.take('k', at + 2), { write: false, heldInWindow: 1 });
    t.same(limit.take('k', at + 3), { write: false, heldInWindow: 2 });
    t.same(limit.take('k', 180_000), { write: true, held: 2 }, 'the next minute on the grid, not 60 s later');
    t.same(limit.take('k', 180_001), { write: true, held: 0 });
    t.same(limit.take('k', 180_002), { write: false, heldInWindow: 1 }, 'held counts start over per window');
  },
);

t.test('a budget of zero holds everything, counted per window', async (t) => {
  const limit = new LogLimit({ windowMs: 60_000, max: 0, aligned: true });
  t.same(limit.take('k', 0), { write: false, heldInWindow: 1 });
  t.same(limit.take('k', 1), { write: false, heldInWindow: 2 });
  t.same(limit.take('k', 60_000), { write: false, heldInWindow: 1 });
});
