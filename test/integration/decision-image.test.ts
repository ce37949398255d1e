import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Agent } from '../../agent/app.js';
import { parseConfigText } from '../../agent/config/index.js';
import { REPO, tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { startAedes } from '../helpers/brokers.js';
import { quietLog } from '../helpers/fixtures.js';
import { walkImages } from '../helpers/storage.js';

t.test(
  'a real part through the agent: its frame is stored and served at /api/decisions/:id/image',
  async (t) => {
    const broker = await startAedes();
    t.teardown(() => broker.stop());
    const dir = tempDir();
    const samples = join(REPO, 'samples/washer');
    const config = parseConfigText(
      `agent: { id: image-test }
store: { path: ${dir}/agent.db, imagesDir: ${dir}/images, keepOkImageEvery: 1, maxDiskMB: 16 }
mqtt: { url: "${broker.url}", topicRoot: t/img, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:0" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${samples}, loop: true }, trigger: { type: mqtt }, model: washer, deadlineMs: 5000 }
`,
      'test',
      {},
    );
    const agent = new Agent(config, { log: quietLog });
    await agent.start();
    t.teardown(() => agent.stop());
    const base = `http://127.0.0.1:${agent.http.port}`;

    const decision = await agent.cameras.get('cam-1')?.trigger('IMG-1');
    t.ok(decision, 'a decision');
    if (!decision) return;
    t.not(decision.verdict, 'ERROR', decision.reason);
    t.equal(decision.image?.stored, true, 'every part keeps its frame with keepOkImageEvery: 1');

    const res = await fetch(`${base}/api/decisions/${decision.id}/image`);
    t.equal(res.status, 200);
    t.equal(res.headers.get('content-type'), 'image/jpeg');
    const body = Buffer.from(await res.arrayBuffer());
    const source = (decision as { sourceRef?: string }).sourceRef;
    t.notOk(source, 'sourceRef stays out of the payload');
    const sampleMatch = (await import('node:fs'))
      .readdirSync(samples)
      .some((f) => readFileSync(join(samples, f)).equals(body));
    t.ok(sampleMatch, 'the stored frame is one of the camera files, byte for byte');

    // by seq too, as GET /api/decisions/:id accepts (plant people quote the seq)
    const bySeq = await fetch(`${base}/api/decisions/${decision.seq}/image`);
    t.equal(bySeq.status, 200, 'the image by the decision seq');
    t.same(Buffer.from(await bySeq.arrayBuffer()), body);

    const status = (await (await fetch(`${base}/api/status`)).json()) as {
      store: { images: { files: number; bytes: number }; disk: { budgetBytes: number; full: boolean } };
    };
    t.same(status.store.images, walkImages(join(dir, 'images')), 'status counts the files on disk');
    t.equal(status.store.disk.budgetBytes, 16 * 1024 * 1024);
    t.equal(status.store.disk.full, false);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    t.match(metrics, /eva_store_disk_bytes\{part="images"\} [1-9]/);
  },
);
