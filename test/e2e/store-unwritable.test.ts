import t from 'tap';
import { SAMPLES, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { collect, startMosquitto } from '../helpers/brokers.js';
import { immutable, mutable } from '../helpers/faults.js';
import { freePort, waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

interface Status {
  store: { lastSeq: number; health?: { held: number } };
  problems: { code: string; message: string }[];
}

/**
 * Issue 16, failure 7: the store's files made immutable while the agent runs (`chattr +i` on the database,
 * its WAL and, where there is one, its -shm file). Before: every verdict failed with "disk I/O error" while
 * /readyz said 200, no alert, no problem; the agent died with SIGBUS (exit 135), while running or on
 * SIGTERM. The -shm file was memory-mapped: a write to a mapped page of an immutable file is a SIGBUS.
 */
t.test(
  'an immutable store: unready with a reason, a coded alert and problem, verdicts held, and SIGTERM still exits 0',
  async (t) => {
    if (!requireTool(t, 'mosquitto', 'the alert must reach a real broker')) return;
    if (!requireTool(t, 'chattr', 'the fault is an immutable file')) return;
    const broker = await startMosquitto();
    t.teardown(() => broker.stop());
    const sub = await collect(broker.url, 't/immutable/#');
    t.teardown(() => sub.end());
    const dir = tempDir('eva-immutable-');
    const httpPort = await freePort();
    const config = writeConfig(
      dir,
      `agent: { id: e2e-immutable }
store: { path: ${dir}/data/agent.db }
mqtt: { url: "${broker.url}", topicRoot: t/immutable, reconnectMinMs: 100, reconnectMaxMs: 500 }
health: { listen: "127.0.0.1:${httpPort}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: interval, fps: 10 }, model: washer, deadlineMs: 2000 }
`,
    );
    const agent = spawnAgent(['run', '-c', config]);
    t.teardown(() => agent.stop('SIGKILL'));
    const base = `http://127.0.0.1:${httpPort}`;
    const status = async () =>
      (await fetch(`${base}/api/status`)
        .then((r) => (r.ok ? r.json() : undefined))
        .catch(() => undefined)) as Status | undefined;
    await waitFor(async () => ((await status())?.store.lastSeq ?? 0) >= 10, 60_000, '10 decisions');

    const files = ['', '-wal', '-shm'].map((s) => `${dir}/data/agent.db${s}`);
    if (!immutable(t, files)) return;

    const unready = await waitFor(
      async () => {
        const res = await fetch(`${base}/readyz`).catch(() => undefined);
        return res?.status === 503 ? ((await res.json()) as { reasons: string[] }) : undefined;
      },
      20_000,
      '/readyz 503',
    );
    t.match(
      unready.reasons.join('; '),
      /store cannot write \((record|ack|probe|checkpoint): .*disk I\/O error/,
      'the reason says why',
    );
    const s = await waitFor(
      async () => {
        const st = await status();
        return (st?.store.health?.held ?? 0) >= 5 ? st : undefined;
      },
      20_000,
      'verdicts held',
    );
    t.ok(
      s.problems.some((p) => p.code === 'STORE_UNWRITABLE'),
      'problems[] lists STORE_UNWRITABLE',
    );
    const alert = await waitFor(
      () =>
        sub.messages
          .filter((m) => m.topic === 't/immutable/alerts')
          .map((m) => m.json())
          .find((a) => a.code === 'STORE_UNWRITABLE' && a.active === true),
      10_000,
      'STORE_UNWRITABLE on R/alerts',
    );
    t.equal(alert.severity, 'critical');
    // a trigger still gets its verdict, on time, saying it is degraded (held, not yet stored)
    await sub.client.publishAsync(
      't/immutable/request/trigger',
      JSON.stringify({ camera: 'cam-1', transaction: 'h1' }),
      {
        qos: 1,
      },
    );
    const response = await waitFor(
      () =>
        sub.messages
          .filter((m) => m.topic === 't/immutable/response/trigger')
          .map((m) => m.json())
          .find((r) => r.transaction === 'h1'),
      10_000,
      'the trigger response',
    );
    t.match(response, { status: 'ok', data: { degraded: true } }, 'the trigger is answered, degraded');
    t.equal(agent.proc.exitCode, null, 'still running (no SIGBUS)');
    const lines = agent.output().split('\n').length;
    await new Promise((r) => setTimeout(r, 3_000));
    const more = agent.output().split('\n').length - lines;
    t.ok(
      more < 20,
      `the log stays quiet while every verdict fails to store (${more} lines in 3 s at 10 fps)`,
    );

    t.equal(await agent.stop('SIGTERM'), 0, 'SIGTERM: a clean exit, not SIGBUS (135)');
    t.match(agent.output(), /stopping with verdicts the store could not write/, 'what was held is said');

    // the operator fixes the files: the next run reports the held verdicts' seqs as lost, never reuses them
    mutable(files);
    const again = spawnAgent(['run', '-c', config]);
    t.teardown(() => again.stop('SIGKILL'));
    const restarted = await waitFor(
      async () => {
        const st = await status();
        return st?.problems.some((p) => p.code === 'STORE_SEQ_REWOUND') ? st : undefined;
      },
      60_000,
      'the restarted agent',
    );
    t.match(
      restarted.problems.find((p) => p.code === 'STORE_SEQ_REWOUND')?.message,
      /numbering continues at \d+, no seq is reused/,
    );
    t.equal(await again.stop('SIGTERM'), 0);
  },
);
