import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { AGENT_VERSION } from './version.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Every Prometheus series the agent exports, on a registry of its own (never prom-client's global one, so
 * two agents in one test process do not collide). Services get this object injected and only count;
 * the health module renders it.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly frames = new Counter({
    name: 'eva_frames_total',
    help: 'Frames captured and handed to inspection',
    labelNames: ['camera'],
    registers: [this.registry],
  });
  readonly framesSkipped = new Counter({
    name: 'eva_frames_skipped_total',
    help: 'Frames or ticks skipped because the camera was still busy with the previous part',
    labelNames: ['camera'],
    registers: [this.registry],
  });
  readonly captureErrors = new Counter({
    name: 'eva_capture_errors_total',
    help: 'Frames the camera failed to deliver',
    labelNames: ['camera'],
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'eva_decisions_total',
    help: 'Decisions stored, by verdict',
    labelNames: ['camera', 'verdict'],
    registers: [this.registry],
  });
  readonly deadlineMisses = new Counter({
    name: 'eva_deadline_misses_total',
    help: 'Parts whose model verdict was not ready by deadlineMs (a fallback verdict was recorded)',
    labelNames: ['camera'],
    registers: [this.registry],
  });
  readonly lateResults = new Counter({
    name: 'eva_late_results_total',
    help: 'Model results that arrived after their deadline and were discarded (logged)',
    labelNames: ['camera'],
    registers: [this.registry],
  });
  readonly decisionLatency = new Histogram({
    name: 'eva_decision_latency_seconds',
    help: 'Trigger to stored verdict',
    labelNames: ['camera'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly inferenceTime = new Histogram({
    name: 'eva_inference_seconds',
    help: 'Model run time in the worker (session.run only)',
    labelNames: ['model', 'provider'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly preprocessTime = new Histogram({
    name: 'eva_preprocess_seconds',
    help: 'Decode, resize and normalise a frame',
    labelNames: ['model'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly backlog = new Gauge({
    name: 'eva_backlog_decisions',
    help: 'Stored decisions not yet acknowledged by the broker',
    registers: [this.registry],
  });
  readonly drops = new Counter({
    name: 'eva_drops_total',
    help: 'Things deliberately dropped, by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly requestsUnlogged = new Counter({
    name: 'eva_requests_unlogged_total',
    help: 'Refused or invalid requests answered but not written to the request log (over the per-minute limit)',
    labelNames: ['via'],
    registers: [this.registry],
  });
  readonly retentionDeleted = new Counter({
    name: 'eva_retention_deleted_total',
    help: 'Rows and files the retention sweep deleted (synced data past store.retentionDays), by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  /** The one disk usage metric: what the budget counts, by part (sum them for the total). */
  readonly diskBytes = new Gauge({
    name: 'eva_store_disk_bytes',
    help: 'Bytes counted against store.maxDiskMB, by part (db: used pages + WAL; images: files)',
    labelNames: ['part'],
    registers: [this.registry],
  });
  readonly diskBudget = new Gauge({
    name: 'eva_store_disk_budget_bytes',
    help: 'store.maxDiskMB in bytes: the cap eva_store_disk_bytes is held under',
    registers: [this.registry],
  });
  readonly mqttConnected = new Gauge({
    name: 'eva_mqtt_connected',
    help: '1 while connected to the broker',
    registers: [this.registry],
  });
  readonly mqttReconnects = new Counter({
    name: 'eva_mqtt_reconnects_total',
    help: 'Broker connection attempts after the first',
    registers: [this.registry],
  });
  readonly published = new Counter({
    name: 'eva_published_total',
    help: 'Decisions acknowledged by the broker',
    labelNames: ['channel', 'historical'],
    registers: [this.registry],
  });
  readonly publishFailures = new Counter({
    name: 'eva_publish_failures_total',
    help: 'Publishes that failed or timed out (the decision stays in the outbox)',
    registers: [this.registry],
  });

  readonly buildInfo = new Gauge({
    name: 'eva_build_info',
    help: 'Always 1; the labels say which agent version runs on which Node.js',
    labelNames: ['version', 'nodejs'],
    registers: [this.registry],
  });
  readonly cameraUp = new Gauge({
    name: 'eva_camera_up',
    help: '1 while an enabled camera runs and its stream is not down; 0 otherwise (see eva_camera_enabled)',
    labelNames: ['camera'],
    registers: [this.registry],
  });
  readonly cameraEnabled = new Gauge({
    name: 'eva_camera_enabled',
    help: '1 when the camera is enabled (config or camera/enable), 0 when a person switched it off',
    labelNames: ['camera'],
    registers: [this.registry],
  });
  readonly cameraLastFrameAge = new Gauge({
    name: 'eva_camera_last_frame_age_seconds',
    help: 'Seconds since the camera delivered its last frame (absent before the first)',
    labelNames: ['camera'],
    registers: [this.registry],
  });
  readonly alertActive = new Gauge({
    name: 'eva_alert_active',
    help: 'The active alerts (R/alerts), 1 each: code, severity and camera/model ("" when none)',
    labelNames: ['code', 'severity', 'camera', 'model'],
    registers: [this.registry],
  });

  constructor(defaults = true) {
    // the default Node.js process metrics keep their standard names (process_cpu_seconds_total,
    // nodejs_eventloop_lag_seconds, ...), so the stock Node.js dashboards and alerts work unchanged; the
    // agent's own series are the ones under eva_. Event loop lag is the first thing to look at when the agent
    // feels slow.
    if (defaults) {
      collectDefaultMetrics({ register: this.registry });
      registerEventLoopLag(this.registry);
    }
    this.buildInfo.set({ version: AGENT_VERSION, nodejs: process.version }, 1);
  }
}

/**
 * The event loop's sampling timer fires every this many ms. prom-client's `nodejs_eventloop_lag_p99_seconds`
 * samples every 10 ms and reports the whole timer period (an idle loop shows ~10 ms), too coarse for a
 * 5 ms budget; 1 ms costs one native timer wake-up per ms, well under 1 % of a core.
 */
export const LOOP_LAG_RESOLUTION_MS = 1;

/** One sampler per thread (an event loop is the thread's, not an agent's): started with the first registry. */
let loopSampler: ReturnType<typeof monitorEventLoopDelay> | undefined;

/**
 * `eva_event_loop_lag_p99_seconds` / `_max_seconds`: how late the main thread ran a timer that was due,
 * since the previous scrape (each scrape starts a new window, as prom-client's event-loop gauges do). Node's
 * histogram records each timer period, due time included, so the resolution is taken off.
 */
function registerEventLoopLag(registry: Registry): void {
  if (!loopSampler) {
    loopSampler = monitorEventLoopDelay({ resolution: LOOP_LAG_RESOLUTION_MS });
    loopSampler.enable();
  }
  const loop = loopSampler;
  const lagOf = (ns: number) => Math.max(0, ns / 1e6 - LOOP_LAG_RESOLUTION_MS) / 1000;
  // registered first: a scrape renders gauges in order, so the max below shows the window this one closes
  new Gauge({
    name: 'eva_event_loop_lag_p99_seconds',
    help: 'Event-loop lag p99 (timer samples every 1 ms) since the previous scrape',
    registers: [registry],
    collect() {
      // one window for both gauges: read them, then start the next window
      if (loop.count > 0) {
        this.set(lagOf(loop.percentile(99)));
        max.set(lagOf(loop.max));
      }
      loop.reset();
    },
  });
  const max = new Gauge({
    name: 'eva_event_loop_lag_max_seconds',
    help: 'Longest event-loop lag (a timer run this late) since the previous scrape',
    registers: [registry],
  });
}
