import pino from 'pino';
import t from 'tap';
import type { AlertInput } from '../../../agent/alerts.js';
import { ModelRunner, type ProviderFallback } from '../../../agent/inference/index.js';
import { ModelDeployment } from '../../../agent/models/index.js';
import { systemClock } from '../../../agent/service.js';
import { tempDir, WASHER_MODEL } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';
import { sampleFrame, washerConfig } from '../../helpers/model-versions.js';

// This machine has no GPU and onnxruntime-node's CUDA provider files are not installed, so `cuda` really
// fails to load here. Where a provider must load and then misbehave, the worker's test-only fault injection
// loads it with the CPU provider under its own name (`emulate`) and fails its runs (`failRuns`).

t.test('cuda fails to load here: cpu is chosen and both attempts are reported', async (t) => {
  const r = new ModelRunner(
    { id: 'washer', path: WASHER_MODEL, providers: ['cuda', 'cpu'], workers: 1, intraOpThreads: 1 },
    quietLog,
  );
  t.teardown(() => r.stop());
  await r.start();
  const s = r.snapshot();
  t.equal(s.state, 'ready', s.error ?? '');
  t.equal(s.provider, 'cpu');
  t.equal(s.providerAttempts.length, 2);
  t.match(s.providerAttempts[0], { provider: 'cuda', stage: 'load', error: /\S/ });
  t.same(s.providerAttempts[1], { provider: 'cpu' });
  const inference = await r.infer(sampleFrame(1));
  t.equal(inference.model.provider, 'cpu', 'decisions carry the provider in use');
});

t.test('a provider that loads but fails its golden images is passed over for the next', async (t) => {
  const r = new ModelRunner(
    { id: 'washer', path: WASHER_MODEL, providers: ['cuda', 'cpu'], workers: 1, intraOpThreads: 1 },
    quietLog,
    // cuda "loads" and warms up (1 run), then every golden image run fails on it
    { faults: { emulate: ['cuda'], failRuns: { provider: 'cuda', afterRuns: 1 } } },
  );
  t.teardown(() => r.stop());
  await r.start();
  const s = r.snapshot();
  t.equal(s.state, 'ready', s.error ?? '');
  t.equal(s.provider, 'cpu');
  t.match(s.providerAttempts[0], { provider: 'cuda', stage: 'golden', error: /golden images failed/ });
  t.same(s.providerAttempts.at(-1), { provider: 'cpu' });
});

t.test(
  'a provider failing warm-up is passed over; with none left the model fails naming the cause',
  async (t) => {
    const r = new ModelRunner(
      { id: 'washer', path: WASHER_MODEL, providers: ['cuda'], workers: 1, intraOpThreads: 1 },
      quietLog,
      { faults: { emulate: ['cuda'], failRuns: { provider: 'cuda', afterRuns: 0 } } },
    );
    t.teardown(() => r.stop());
    await r.start();
    const s = r.snapshot();
    t.equal(s.state, 'failed');
    t.match(s.error, /injected fault/);
    t.match(s.providerAttempts[0], { provider: 'cuda', stage: 'warm-up' });
    await t.rejects(r.infer(sampleFrame(1)), { code: 'EVA_ERR_MODEL_UNAVAILABLE' });
  },
);

t.test('a provider failing at run time falls back to the next; the frame is still judged', async (t) => {
  const events: ProviderFallback[] = [];
  const r = new ModelRunner(
    { id: 'washer', path: WASHER_MODEL, providers: ['cuda', 'cpu'], workers: 1, intraOpThreads: 1 },
    quietLog,
    {
      // warm-up + 6 golden images + 2 line frames succeed on "cuda"; the 3rd line frame fails on it
      faults: { emulate: ['cuda'], failRuns: { provider: 'cuda', afterRuns: 9 } },
      onProviderFallback: (e) => events.push(e),
    },
  );
  t.teardown(() => r.stop());
  await r.start();
  t.equal(r.snapshot().provider, 'cuda');
  t.equal((await r.infer(sampleFrame(1))).model.provider, 'cuda');
  t.equal((await r.infer(sampleFrame(2))).model.provider, 'cuda');
  const third = await r.infer(sampleFrame(3));
  t.equal(third.model.provider, 'cpu', 'the failed frame was run again on cpu');
  const s = r.snapshot();
  t.equal(s.state, 'ready');
  t.equal(s.provider, 'cpu');
  t.match(s.providerAttempts, [
    { provider: 'cuda' },
    { provider: 'cuda', stage: 'run', error: /injected fault/ },
    { provider: 'cpu' },
  ]);
  t.equal(events.length, 1);
  t.match(events[0], { model: 'washer', from: 'cuda', to: 'cpu', reason: /injected fault/ });
  t.equal((await r.infer(sampleFrame(4))).model.provider, 'cpu', 'later frames run on cpu');
});

t.test('frames queued on the failing provider are judged on the next one, none lost', async (t) => {
  const events: ProviderFallback[] = [];
  const r = new ModelRunner(
    { id: 'washer', path: WASHER_MODEL, providers: ['cuda', 'cpu'], workers: 1, intraOpThreads: 1 },
    quietLog,
    {
      faults: { emulate: ['cuda'], failRuns: { provider: 'cuda', afterRuns: 7 } },
      onProviderFallback: (e) => events.push(e),
    },
  );
  t.teardown(() => r.stop());
  await r.start();
  const results = await Promise.all([1, 2, 3, 4, 5].map((i) => r.infer(sampleFrame(i))));
  t.same(
    results.map((x) => x.model.provider),
    ['cpu', 'cpu', 'cpu', 'cpu', 'cpu'],
  );
  t.equal(events.length, 1, 'one switch, however many frames saw the failure');
});

t.test('run-time fallback of the active version raises a MODEL_PROVIDER_FALLBACK alert', async (t) => {
  const alerts: AlertInput[] = [];
  const d = new ModelDeployment(washerConfig({ providers: ['cuda', 'cpu'] }), {
    log: quietLog,
    clock: systemClock,
    versionsDir: tempDir('eva-versions-'),
    alerts: { raise: (a) => alerts.push(a) },
    faults: () => ({ emulate: ['cuda'], failRuns: { provider: 'cuda', afterRuns: 7 } }),
  });
  t.teardown(() => d.stop());
  await d.start();
  t.equal(d.snapshot().provider, 'cuda');
  const inference = await d.infer(sampleFrame(1));
  t.equal(inference.model.provider, 'cpu');
  t.match(alerts, [
    { code: 'MODEL_PROVIDER_FALLBACK', severity: 'warning', modelId: 'washer', active: true },
  ]);
  t.match(alerts[0]?.message, /cuda failed at run time.*now on cpu/);
  t.equal(d.snapshot().provider, 'cpu', '/api/status shows the provider now in use');
});

t.test('on the last provider a run failure is an error for that frame, not a restart', async (t) => {
  const r = new ModelRunner(
    { id: 'washer', path: WASHER_MODEL, providers: ['cpu'], workers: 1, intraOpThreads: 1 },
    quietLog,
    { faults: { failRuns: { provider: 'cpu', afterRuns: 7 } } },
  );
  t.teardown(() => r.stop());
  await r.start();
  await t.rejects(r.infer(sampleFrame(1)), { code: 'EVA_ERR_INFERENCE_FAILED' });
  t.equal(r.state, 'ready', 'the model stays up; each failing frame is an ERROR decision');
});

t.test('stop during a provider switch ends the pool the switch makes', async (t) => {
  let stopping: Promise<void> | undefined;
  let r: ModelRunner | undefined;
  // stop as soon as the switch begins (the runner logs the run-time failure, then starts loading cpu)
  const log = pino(
    { level: 'error' },
    {
      write(line: string) {
        if (line.includes('failed at run time')) setImmediate(() => (stopping = r?.stop()));
      },
    },
  );
  r = new ModelRunner(
    { id: 'washer', path: WASHER_MODEL, providers: ['cuda', 'cpu'], workers: 1, intraOpThreads: 1 },
    log,
    { faults: { emulate: ['cuda'], failRuns: { provider: 'cuda', afterRuns: 7 } } },
  );
  t.teardown(() => r?.stop());
  await r.start();
  t.equal(r.snapshot().provider, 'cuda');
  await t.rejects(r.infer(sampleFrame(1)), /injected fault/);
  t.ok(stopping, 'stop was called during the switch');
  await stopping;
  t.equal(r.state, 'stopped');
  // private: the pool that would keep worker threads (and onnxruntime sessions) alive after stop
  t.equal((r as unknown as { pool: unknown }).pool, undefined, 'no pool left after stop');
});
