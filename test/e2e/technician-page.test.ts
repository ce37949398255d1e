import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import t from 'tap';
import { agentHttp } from '../helpers/agent-http.js';
import { REPO, SAMPLES, spawnAgent, tempDir, WASHER_MODEL, writeConfig } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/brokers.js';
import { freePort, waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

/**
 * The technician page as a technician uses it: Debian's Chromium (driven by playwright-core, no browser
 * download) against the built agent with two cameras (a classifier and a detector) and a real broker.
 * Each tile shows a judged frame, counts and the model; stopping the broker puts a problem on the page and
 * starting it again takes it off, live; a technician signs in and records an override, which the audit
 * trail then shows. Screenshots at desktop and phone width are kept in the test's fixture directory.
 */

const TOKEN = 'line-3-token';

/**
 * What the callbacks run inside the page see. This program has no DOM types (it is Node code); the
 * callbacks are sent to the browser as source, where `globalThis` is the window.
 */
interface El {
  textContent: string | null;
  children: { length: number };
  naturalWidth: number;
}
interface PageGlobals {
  document: {
    querySelector(selector: string): El | null;
    getElementById(id: string): El | null;
    documentElement: { scrollWidth: number };
  };
  sessionStorage: { getItem(key: string): string | null };
  localStorage: { length: number };
  innerWidth: number;
}
const DETECTOR = join(REPO, 'models/washer-det/model.onnx');
const DETECTOR_FRAMES = join(REPO, 'models/washer-det/golden');
// as root, Chromium needs --no-sandbox; the rest keeps it off the network and quiet (TESTING.md)
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

t.test('the technician page, live, in a real browser', { saveFixture: true }, async (t) => {
  if (!requireTool(t, 'chromium', 'the technician page is checked in a real browser')) return;
  if (!requireTool(t, 'mosquitto', 'the page shows the broker going away and coming back')) return;
  const shots = t.testdirName;
  mkdirSync(shots, { recursive: true });

  let broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const httpPort = await freePort();
  const dir = tempDir();
  const config = writeConfig(
    dir,
    `agent: { id: e2e-page }
store: { path: ${dir}/agent.db }
mqtt: { url: "${broker.url}", topicRoot: "t/page", reconnectMinMs: 200, reconnectMaxMs: 1000 }
health: { listen: "127.0.0.1:${httpPort}", token: ${TOKEN} }
models:
  - { id: washer, path: ${WASHER_MODEL} }
  - { id: detector, path: ${DETECTOR} }
cameras:
  - { id: cam-cls, source: { type: folder, path: ${SAMPLES}, loop: true }, trigger: { type: interval, fps: 2 }, model: washer, deadlineMs: 3000 }
  - { id: cam-det, source: { type: folder, path: ${DETECTOR_FRAMES}, loop: true }, trigger: { type: interval, fps: 1 }, model: detector, deadlineMs: 3000 }
`,
  );
  const agent = spawnAgent(['run', '-c', config], { cwd: REPO, env: { LOG_LEVEL: 'info' } });
  t.teardown(() => agent.stop('SIGKILL'));
  const api = agentHttp(httpPort);
  await waitFor(
    async () => {
      const s = await api.status();
      const ng = await api.decisions('?verdict=NG&limit=1');
      return s?.mqtt.connected && s.store.lastSeq >= 6 && ng?.length ? s : undefined;
    },
    90_000,
    'both cameras judging, an NG to review',
  );

  const context = await chromium.launchPersistentContext(tempDir('eva-chromium-'), {
    executablePath: '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    viewport: { width: 1366, height: 900 },
  });
  t.teardown(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text()))
      pageErrors.push(m.text());
  });
  await page.goto(api.base, { waitUntil: 'domcontentloaded' });

  // each tile: a judged frame (decoded by the browser), counts of the last hour and the model
  for (const [camera, model] of [
    ['cam-cls', /washer v\S+ · cpu · ready/],
    ['cam-det', /detector v\S+ · cpu · ready/],
  ] as const) {
    const tile = page.locator(`article.camera[data-camera="${camera}"]`);
    await tile.locator('img.judged[data-seq]').waitFor({ timeout: 30_000 });
    const width = await tile.locator('img.judged').evaluate((img) => (img as unknown as El).naturalWidth);
    t.ok(width > 0, `${camera}: a judged frame is shown (${width} px wide)`);
    await page.waitForFunction(
      (id) =>
        /OK \d+ · NG \d+/.test(
          (globalThis as unknown as PageGlobals).document.querySelector(`[data-camera="${id}"] dd.counts`)
            ?.textContent ?? '',
        ),
      camera,
    );
    t.match(await tile.locator('dd.counts').textContent(), /OK \d+ · NG \d+ · UNCERTAIN \d+ · ERROR \d+/);
    t.match(
      await tile.locator('dd.model').textContent(),
      model,
      `${camera}: the model, its version and provider`,
    );
    t.match(
      await tile.locator('dd.latency').textContent(),
      /p50 [\d.]+ ms · p99 [\d.]+ ms \(deadline 3000 ms\)/,
    );
    t.equal(
      await tile.locator('dd.drift').textContent(),
      'drift: not available',
      'until the drift issue lands',
    );
    t.match(await tile.locator('figcaption.verdict').textContent(), /^(OK|NG|UNCERTAIN|ERROR) · /);
  }
  t.equal(await page.locator('#conn').textContent(), 'live', 'kept live by server-sent events');
  t.match(await page.locator('#agent-figures dd.broker').textContent(), /^connected/);
  t.equal(await page.locator('#problems li.none').textContent(), 'No problems.');
  await page.locator('.tile canvas').first().waitFor({ timeout: 15_000 }); // uPlot drew its charts
  await page.screenshot({ path: join(shots, 'desktop.png'), fullPage: true });

  // the broker goes away: the problem appears without a reload; it returns: the problem clears
  const port = broker.port;
  await broker.stop();
  const down = page.locator('#problems li.problem[data-code="MQTT_DOWN"]');
  await down.waitFor({ timeout: 20_000 });
  t.match(await down.textContent(), /warning.*MQTT_DOWN.*decisions are buffered/);
  t.match(await page.locator('#agent-figures dd.broker').textContent(), /^disconnected/);
  await page.screenshot({ path: join(shots, 'desktop-broker-down.png'), fullPage: true });
  broker = await startMosquitto({ port });
  await down.waitFor({ state: 'detached', timeout: 30_000 });
  t.pass('the problem cleared when the broker came back');

  // a technician signs in (a wrong token is refused), then overrides a verdict from the review queue
  await page.locator('#signin-btn').click();
  await page.locator('#signin-name').fill('Dana Field');
  await page.locator('#signin-token').fill('not-the-token');
  await page.locator('#signin-submit').click();
  await page.waitForFunction(() =>
    /not the agent/.test(
      (globalThis as unknown as PageGlobals).document.getElementById('signin-error')?.textContent ?? '',
    ),
  );
  await page.locator('#signin-token').fill(TOKEN);
  await page.locator('#signin-submit').click();
  await page.locator('#signed-in').waitFor();
  t.equal(await page.locator('#signed-in-name').textContent(), 'Dana Field');
  t.equal(
    await page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem('eva-token')),
    TOKEN,
    'the token is kept for this tab only',
  );
  t.equal(
    await page.evaluate(() => (globalThis as unknown as PageGlobals).localStorage.length),
    0,
    'nothing in local storage',
  );

  const item = page.locator('#review-list li.review-item[data-verdict="NG"]').first();
  await item.waitFor({ timeout: 20_000 });
  const decisionId = (await item.getAttribute('data-id')) as string;
  await item.click();
  await page.locator('#review-actions').waitFor();
  await page.locator('#override-verdict').selectOption('OK');
  await page.locator('#override-reason').fill('re-inspected by hand: the mark is dust');
  await page.locator('#override-submit').click();
  await page.waitForFunction(
    () =>
      (globalThis as unknown as PageGlobals).document.getElementById('review-result')?.textContent ===
      'Recorded.',
  );
  await page.locator('#outcome-ok').click();
  await page.waitForFunction(
    () =>
      ((globalThis as unknown as PageGlobals).document.querySelector('#review-body .trail')?.children
        .length ?? 0) >= 2,
  );
  t.match(await page.locator('#review-body .trail').textContent(), /override OK by Dana Field/);

  const audited = (await (await fetch(`${api.base}/api/decisions/${decisionId}`)).json()) as {
    verdict: string;
    overrides: { verdict: string; user: string; reason: string }[];
    outcomes: { actual: string; source: string }[];
  };
  t.equal(audited.verdict, 'NG', 'the decision itself is unchanged (append-only)');
  t.match(audited.overrides, [
    { verdict: 'OK', user: 'Dana Field', reason: 're-inspected by hand: the mark is dust' },
  ]);
  t.match(audited.outcomes, [{ actual: 'OK', source: 'technician:Dana Field' }]);
  await page.locator('#review-close').click();

  // the aiming view: a live snapshot with its meters
  await page.locator('article.camera[data-camera="cam-cls"] button.aim').click();
  await page.waitForFunction(() =>
    /\d+ \(best \d+/.test(
      (globalThis as unknown as PageGlobals).document.getElementById('aim-sharpness-text')?.textContent ?? '',
    ),
  );
  t.match(await page.locator('#aim-exposure-text').textContent(), /mean \d+ of 255/);
  await page.locator('#aim-close').click();

  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(500);
  const overflow = await page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    return g.document.documentElement.scrollWidth - g.innerWidth;
  });
  t.ok(overflow <= 1, `no sideways scrolling at phone width (${overflow} px)`);
  await page.screenshot({ path: join(shots, 'phone.png'), fullPage: true });
  t.same(pageErrors, [], 'no script error, nothing refused by the content security policy');
  t.equal(await agent.stop('SIGTERM'), 0, 'the agent stops cleanly');
});
