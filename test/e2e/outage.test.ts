import t from 'tap';
import { REPO, SAMPLES, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { collect, startMosquitto } from '../helpers/brokers.js';
import { freePort, waitFor } from '../helpers/net.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { requireTool } from '../helpers/tools.js';

interface Published {
  id: string;
  seq: number;
  historical: boolean;
  verdict: string;
}

t.test(
  'decisions made while the broker is away arrive after it returns, in seq order, flagged historical',
  async (t) => {
    if (!requireTool(t, 'mosquitto', 'the store-and-forward test runs against a real broker')) return;
    const broker = await startMosquitto();
    t.teardown(() => broker.stop());
    // the agent reaches the broker only through a proxy the test holds down: the plant network is out
    const proxy = new TcpProxy(await freePort(), broker.port);
    t.teardown(() => proxy.down());
    const httpPort = await freePort();
    const dir = tempDir();
    const config = writeConfig(
      dir,
      `agent: { id: e2e-outage }
store: { path: ${dir}/agent.db, imagesDir: ${dir}/images }
mqtt: { url: "mqtt://127.0.0.1:${proxy.port}", topicRoot: "t/outage", reconnectMinMs: 100, reconnectMaxMs: 500 }
health: { listen: "127.0.0.1:${httpPort}" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: interval, fps: 20 }, model: washer, deadlineMs: 2000 }
`,
    );
    const sub = await collect(broker.url, 't/outage/#');
    t.teardown(() => sub.end());

    const agent = spawnAgent(['run', '-c', config], { cwd: REPO });
    t.teardown(() => agent.stop('SIGKILL'));
    const status = async () => {
      const res = await fetch(`http://127.0.0.1:${httpPort}/api/status`).catch(() => undefined);
      return res?.ok
        ? ((await res.json()) as {
            store: { lastSeq: number; backlog: number };
            mqtt: { connected: boolean };
          })
        : undefined;
    };

    const offline = await waitFor(
      async () => {
        const s = await status();
        return s && s.store.lastSeq >= 15 ? s : undefined;
      },
      60_000,
      '15 decisions stored while offline',
    );
    t.equal(offline.mqtt.connected, false, 'the agent is not connected while the proxy is down');
    t.ok(offline.store.backlog >= 15, 'they wait in the store');
    t.equal(sub.messages.filter((m) => m.topic.includes('/decisions/')).length, 0, 'nothing was published');

    await proxy.up();
    const decisions = () =>
      sub.messages
        .filter((m) => m.topic === 't/outage/decisions/cam-1')
        .map((m) => m.json() as unknown as Published);
    // let live decisions flow for a while after the backlog, then stop and account for every one
    await waitFor(
      () => decisions().some((d) => !d.historical && d.seq > offline.store.lastSeq + 10),
      60_000,
      'live decisions',
    );
    t.equal(await agent.stop('SIGTERM'), 0, 'clean stop exits 0');

    const finalStatus = sub.messages
      .filter((m) => m.topic === 't/outage/status')
      .at(-1)
      ?.json();
    t.equal(finalStatus?.state, 'stopped', 'R/status says stopped');

    const got = decisions();
    const ids = new Set(got.map((d) => d.id));
    t.equal(ids.size, got.length, 'no decision was published twice');
    const seqs = got.map((d) => d.seq).sort((a, b) => a - b);
    const lastSeq = seqs.at(-1) ?? 0;
    t.same(
      seqs,
      Array.from({ length: lastSeq }, (_, i) => i + 1),
      `every seq from 1 to ${lastSeq}, no gap`,
    );
    const historical = got.filter((d) => d.historical).map((d) => d.seq);
    const live = got.filter((d) => !d.historical).map((d) => d.seq);
    t.same(
      historical,
      [...historical].sort((a, b) => a - b),
      'the backlog arrives oldest first',
    );
    t.same(
      live,
      [...live].sort((a, b) => a - b),
      'live decisions arrive in seq order',
    );
    t.ok(
      got.filter((d) => d.seq <= offline.store.lastSeq).every((d) => d.historical),
      'everything stored during the outage is flagged historical',
    );
    t.ok(live.length > 0, 'live decisions kept flowing');

    // the store agrees: nothing left to send
    t.match(agent.output(), /agent stopped/);
  },
);
