import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { parse as parseYaml } from 'yaml';
import { Agent } from '../../agent/app.js';
import { parseConfigText } from '../../agent/config/index.js';
import { REPO, tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { startAedes } from '../helpers/brokers.js';
import { quietLog } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

/**
 * What plant IT reads: `/metrics` in Prometheus naming, the metric list in docs/operations.md (checked
 * against the registry both ways), and deploy/: alert rules and a dashboard that read only series the
 * agent exports, checked by promtool (config, rule syntax, and the rules' own unit tests).
 */

const TOKEN = 'mon-token';
const MAX_DISK_MB = 32;

async function startAgent(t: Test) {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const dir = tempDir();
  const config = parseConfigText(
    `agent: { id: mon-test }
store: { path: ${dir}/agent.db, maxDiskMB: ${MAX_DISK_MB} }
mqtt: { url: "${broker.url}", topicRoot: t/mon, reconnectMinMs: 100 }
health: { listen: "127.0.0.1:0", token: ${TOKEN} }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras:
  - { id: cam-1, source: { type: folder, path: ${join(REPO, 'samples/washer')}, loop: true }, trigger: { type: interval, fps: 4 }, model: washer, deadlineMs: 3000 }
`,
    'test',
    {},
  );
  const agent = new Agent(config, { log: quietLog });
  await agent.start();
  t.teardown(() => agent.stop());
  const base = `http://127.0.0.1:${agent.http.port}`;
  return { agent, base, metrics: async () => (await fetch(`${base}/metrics`)).text() };
}

/** The names a metric family writes samples under (a histogram's _bucket, _sum and _count). */
function familyOf(sample: string): string {
  return sample.replace(/_(bucket|sum|count)$/, '');
}

t.test('/metrics follows Prometheus naming and has every family the agent registers', async (t) => {
  const { agent, base, metrics } = await startAgent(t);
  await waitFor(() => agent.store.lastSeq() >= 2, 20_000, 'decisions');
  let text = await metrics();
  const registered = agent.metrics.registry.getMetricsAsArray().map((m) => m.name);
  for (const name of registered) t.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exported`);
  const families = new Set(
    [...text.matchAll(/^([a-z_:][a-z0-9_:]*)(?:\{| )/gm)].map((m) => familyOf(m[1] as string)),
  );
  t.same(
    [...families].filter((f) => !registered.includes(f)),
    [],
    'nothing but the registered families',
  );

  t.notMatch(text, /^eva_process_/m, 'the default metrics are not prefixed twice');
  t.match(
    text,
    /^process_cpu_seconds_total \d/m,
    'standard Node.js names, as the stock dashboards read them',
  );
  t.match(text, /^nodejs_eventloop_lag_seconds \d/m);
  t.match(text, /^eva_build_info\{version="\d+\.\d+\.\d+",nodejs="v\d+\.\d+\.\d+"\} 1$/m);
  t.match(text, /^eva_camera_up\{camera="cam-1"\} 1$/m);
  t.match(text, /^eva_camera_enabled\{camera="cam-1"\} 1$/m);
  t.match(text, /^eva_camera_last_frame_age_seconds\{camera="cam-1"\} \d/m);
  t.notMatch(text, /^eva_store_bytes/m, 'one disk metric, not two');
  t.match(text, /^eva_store_disk_bytes\{part="db"\} [1-9]/m);
  t.match(text, new RegExp(`^eva_store_disk_budget_bytes ${MAX_DISK_MB * 1024 * 1024}$`, 'm'));
  t.match(text, /^eva_decisions_total\{camera="cam-1",verdict="\w+"\} [1-9]/m);
  t.match(text, /^eva_mqtt_connected 1$/m);
  t.match(text, /^eva_model_active_info\{model="washer",version="[^"]+",provider="cpu"\} 1$/m);

  // an alert is a series while it is active, and goes away when it clears
  agent.alerts.raise({
    code: 'DRIFT_INPUT',
    severity: 'warning',
    cameraId: 'cam-1',
    message: 'test',
    active: true,
  });
  text = await metrics();
  t.match(text, /^eva_alert_active\{code="DRIFT_INPUT",severity="warning",camera="cam-1",model=""\} 1$/m);
  agent.alerts.clear('DRIFT_INPUT', 'test over', { cameraId: 'cam-1' });
  t.notMatch(await metrics(), /^eva_alert_active\{/m);

  // a camera a person switched off is not "down": up 0, enabled 0 (the camera-down rule needs enabled 1)
  const off = await fetch(`${base}/api/camera/enable`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ camera: 'cam-1', enabled: false }),
  });
  t.equal(off.status, 200);
  text = await metrics();
  t.match(text, /^eva_camera_up\{camera="cam-1"\} 0$/m);
  t.match(text, /^eva_camera_enabled\{camera="cam-1"\} 0$/m);
});

/** The metric names docs/operations.md lists in its "## Metrics" section. */
function documentedMetrics(): Set<string> {
  const doc = readFileSync(join(REPO, 'docs/operations.md'), 'utf8');
  const start = doc.indexOf('## Metrics');
  const end = doc.indexOf('Changed from earlier versions', start);
  const section = doc.slice(start, end);
  return new Set([...section.matchAll(/`((?:eva|process|nodejs)_[a-z0-9_]+)`/g)].map((m) => m[1] as string));
}

t.test('docs/operations.md lists every metric the agent exports, and nothing else', async (t) => {
  const { agent } = await startAgent(t);
  const registered = new Set(agent.metrics.registry.getMetricsAsArray().map((m) => m.name));
  const documented = documentedMetrics();
  t.ok(registered.size > 40, `${registered.size} metrics registered`);
  t.same([...registered].filter((n) => !documented.has(n)).sort(), [], 'registered but not documented');
  t.same([...documented].filter((n) => !registered.has(n)).sort(), [], 'documented but not exported');
});

/** Metric names a PromQL expression reads (functions, keywords and label names are not metric names). */
function metricNames(expr: string): string[] {
  const stripped = expr.replace(/\{[^}]*\}/g, '{}').replace(/"[^"]*"/g, '""');
  return [...stripped.matchAll(/\b((?:eva|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) =>
    familyOf(m[1] as string),
  );
}

t.test('deploy/: alert rules and the Grafana dashboard read only series the agent exports', async (t) => {
  const { agent } = await startAgent(t);
  const registered = new Set(agent.metrics.registry.getMetricsAsArray().map((m) => m.name));
  const rules = parseYaml(readFileSync(join(REPO, 'deploy/prometheus/alerts.yml'), 'utf8')) as {
    groups: { rules: { alert: string; expr: string; labels: { severity: string }; annotations: object }[] }[];
  };
  const alerts = rules.groups.flatMap((g) => g.rules);
  t.same(
    alerts.map((r) => r.alert).sort(),
    [
      'EdgeAgentBacklogGrowing',
      'EdgeAgentBrokerDown',
      'EdgeAgentCameraDown',
      'EdgeAgentCriticalAlert',
      'EdgeAgentDeadlineMisses',
      'EdgeAgentDiskFull',
      'EdgeAgentDiskNearlyFull',
      'EdgeAgentDown',
      'EdgeAgentDrift',
    ],
    'backlog growing, broker down, deadline misses, camera down, disk nearly full, drift (and more)',
  );
  for (const r of alerts) {
    t.ok(['warning', 'critical'].includes(r.labels.severity), `${r.alert}: a severity`);
    t.match(r.annotations, { summary: String, description: String }, `${r.alert}: says what and why`);
    for (const name of metricNames(r.expr)) t.ok(registered.has(name), `${r.alert} reads ${name}`);
  }

  const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy/grafana/edge-vision-agent.json'), 'utf8')) as {
    panels: { id: number; type: string; targets?: { expr: string }[] }[];
  };
  const ids = dashboard.panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr));
  t.ok(exprs.length >= 20, `${exprs.length} queries`);
  const read = new Set(exprs.flatMap(metricNames));
  for (const name of read) t.ok(registered.has(name), `the dashboard reads ${name}`);
  for (const wanted of [
    'eva_camera_up',
    'eva_backlog_decisions',
    'eva_store_disk_bytes',
    'process_cpu_seconds_total',
  ]) {
    t.ok(read.has(wanted), `the dashboard shows ${wanted}`);
  }
});

t.test('promtool: the scrape config, the rules and their unit tests, the dashboard queries', async (t) => {
  if (!requireTool(t, 'promtool', 'the alert rules and queries are checked by Prometheus itself')) return;
  const run = promisify(execFile);
  const dir = join(REPO, 'deploy/prometheus');
  const config = await run('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
  t.match(config.stdout, /SUCCESS/);
  const tests = await run('promtool', ['test', 'rules', join(dir, 'alerts.test.yml')]);
  t.match(tests.stdout, /SUCCESS/, 'every alert fires on its case (and only there)');

  // the dashboard's queries, with Grafana's variables filled in, as recording rules: promtool parses each
  const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy/grafana/edge-vision-agent.json'), 'utf8')) as {
    panels: { targets?: { expr: string }[] }[];
  };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr));
  const asRules = {
    groups: [
      {
        name: 'dashboard',
        rules: exprs.map((expr, i) => ({
          record: `dashboard:query_${i}`,
          expr: expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*'),
        })),
      },
    ],
  };
  const file = join(tempDir(), 'dashboard-rules.json');
  writeFileSync(file, JSON.stringify(asRules));
  const parsed = await run('promtool', ['check', 'rules', file]);
  t.match(
    parsed.stdout,
    new RegExp(`SUCCESS: ${exprs.length} rules found`),
    'every dashboard query is valid PromQL',
  );
});
