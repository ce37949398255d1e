import t from 'tap';
import { plcConfigSchema } from '../../../agent/config/index.js';
import { decodePartId, mapVerdict, type VerdictLike } from '../../../agent/plc/index.js';

const v = (verdict: VerdictLike['verdict'], degraded = false): VerdictLike => ({ verdict, degraded, seq: 1 });

t.test('verdict mapping: only a real OK passes; uncertainAs decides a model UNCERTAIN only', async (t) => {
  t.same(mapVerdict(v('OK'), 'ng'), { ok: true, ng: false });
  t.same(mapVerdict(v('NG'), 'ok'), { ok: false, ng: true });
  t.same(mapVerdict(v('UNCERTAIN'), 'ng'), { ok: false, ng: true });
  t.same(mapVerdict(v('UNCERTAIN'), 'ok'), { ok: true, ng: false });
  t.same(mapVerdict(v('ERROR'), 'ok'), { ok: false, ng: true });
  t.same(mapVerdict(v('UNCERTAIN', true), 'ok'), { ok: false, ng: true }, 'a deadline fallback is a reject');
  t.same(mapVerdict(v('OK', true), 'ok'), { ok: false, ng: true }, 'a degraded OK is still a reject');
});

t.test('part ids: ASCII padded with NULs or spaces, swapped bytes, numbers', async (t) => {
  const ascii = { address: 0, count: 3, format: 'ascii' as const, swapBytes: false };
  t.equal(decodePartId([0x4142, 0x3132, 0x0000], ascii), 'AB12');
  t.equal(decodePartId([0x4142, 0x3120, 0x2020], ascii), 'AB1');
  t.equal(decodePartId([0x4241, 0x3231, 0], { ...ascii, swapBytes: true }), 'AB12');
  t.equal(decodePartId([0, 0, 0], ascii), undefined, 'empty registers mean no id');
  t.equal(decodePartId([42], { ...ascii, count: 1, format: 'uint16' }), '42');
  t.equal(decodePartId([1, 2], { ...ascii, count: 2, format: 'uint32' }), '65538');
});

t.test('schema: defaults, and overlapping registers rejected together', async (t) => {
  const c = plcConfigSchema.parse({ host: 'plc-1' });
  t.match(c, {
    port: 502,
    unitId: 1,
    pollMs: 20,
    timeoutMs: 500,
    trigger: { mode: 'partPresent', table: 'discrete', address: 0 },
    outputs: { table: 'coil', ok: 0, ng: 1, resultValid: 2, acquisitionId: 100 },
    resultValidMs: 100,
    uncertainAs: 'ng',
    maxInFlight: 4,
  });
  const bad = plcConfigSchema.safeParse({
    host: 'plc-1',
    trigger: { mode: 'triggerRegister', address: 100 },
    outputs: { ng: 0 },
    partId: { address: 0, count: 2, format: 'uint16' },
    extra: true,
  });
  t.notOk(bad.success);
  t.ok((bad.error?.issues.length ?? 0) >= 2, 'problems are reported together');
});
