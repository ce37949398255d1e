import type { Logger } from 'pino';
import type { Alert } from '../../alerts.js';
import type { CameraStatus } from '../../capture/index.js';
import type { EventBus } from '../../events.js';
import type { Clock, Service, TimerHandle } from '../../service.js';
import type { RequestVia } from '../../store/index.js';
import type { RequestArgs, RequestName } from '../requests.js';
import type { SparkplugChannel, SparkplugExtension } from './channel.js';
import type { SparkplugMetric } from './payloads.js';

/** The writable metrics and the state metrics of the node and of each camera device (docs/sparkplug.md). */
export const COMMAND_METRICS = {
  trigger: 'Trigger',
  enabled: 'Enabled',
  recipe: 'Recipe',
  recipeNumber: 'Recipe/Number',
  state: 'State',
  backlog: 'Backlog',
  linkMqtt: 'Link/MQTT',
  linkPlc: 'Link/PLC',
  alertsActive: 'Alerts/Active',
  alertsCritical: 'Alerts/Critical',
  alertsCodes: 'Alerts/Codes',
} as const;

/** Node metrics that move by themselves (backlog, links) are compared this often; NDATA only on change. */
export const NODE_CHECK_MS = 5_000;

export interface CommandDeps {
  /** Runs a request through the router, audited as `sparkplug` (sync's PlantRequests). */
  requests: { run<N extends RequestName>(name: N, args: RequestArgs<N>, via: RequestVia): Promise<unknown> };
  cameras: ReadonlyMap<string, { snapshot(): CameraStatus }>;
  /** The active recipe, when recipes are configured. */
  recipe?: () => { id: string; number: number };
  backlog: () => number;
  mqttConnected: () => boolean;
  /** Whether every PLC is connected; null without PLCs. */
  plcConnected: () => boolean | null;
  alerts: () => Alert[];
  events: EventBus;
  clock: Clock;
  log: Logger;
}

/**
 * Sparkplug commands (DCMD per camera: `Trigger`, `Enabled`, `Recipe`; NCMD: `Recipe`) and the metrics that
 * answer them. Each command runs as the matching request (trigger, camera/enable, recipe/select), so it is
 * validated and audited like one from MQTT or HTTP; the answer is the metric's value afterwards, in DDATA or
 * NDATA, so a host sees whether its write took (a refused one is answered with the unchanged value).
 * Node metrics (backlog, link state, alerts, recipe) are born in the NBIRTH and sent in NDATA on change.
 */
export class SparkplugCommands implements Service, SparkplugExtension {
  readonly name = 'sparkplug-commands';
  private timer: TimerHandle | undefined;
  private lastNode = new Map<string, unknown>();

  constructor(
    private readonly channel: SparkplugChannel,
    private readonly deps: CommandDeps,
  ) {}

  /** The channel is extended by the wiring (before it is born); this starts listening and answering. */
  async start(): Promise<void> {
    const { events, clock } = this.deps;
    events.on('RecipeChanged', () => this.recipeChanged(), this.name);
    events.on('AlertChanged', () => this.nodeChanged(), this.name);
    this.channel.onUp(() => this.lastNode.clear());
    this.timer = clock.setInterval(() => this.nodeChanged(), NODE_CHECK_MS);
    this.recipeChanged(); // the recorded recipe may differ from the one the births were made with
  }

  async stop(): Promise<void> {
    this.deps.events.removeListeners(this.name);
    if (this.timer !== undefined) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  nodeMetrics(now: number): SparkplugMetric[] {
    const metrics = this.node(now);
    this.lastNode = new Map(metrics.map((m) => [m.name ?? '', m.value]));
    return metrics;
  }

  deviceMetrics(deviceId: string, now: number): SparkplugMetric[] {
    const c = this.deps.cameras.get(deviceId)?.snapshot();
    return [
      metric(COMMAND_METRICS.trigger, 'Boolean', false, now),
      metric(COMMAND_METRICS.enabled, 'Boolean', c?.enabled ?? null, now),
      metric(COMMAND_METRICS.state, 'String', c?.state ?? null, now),
      ...(this.deps.recipe ? [metric(COMMAND_METRICS.recipe, 'String', this.deps.recipe().id, now)] : []),
    ];
  }

  command(deviceId: string | undefined, metrics: SparkplugMetric[]): void {
    for (const m of metrics) {
      const run = deviceId === undefined ? this.nodeCommand(m) : this.deviceCommand(deviceId, m);
      if (!run) {
        this.deps.log.warn(
          { device: deviceId, metric: m.name },
          'Sparkplug command for a metric that is not writable; ignored',
        );
      }
    }
  }

  /** DCMD: the camera's writable metrics; false when the metric is not one. */
  private deviceCommand(camera: string, m: SparkplugMetric): boolean {
    const { requests } = this.deps;
    const now = () => this.deps.clock.now();
    if (m.name === COMMAND_METRICS.trigger) {
      if (m.value !== true) return true; // writing false is the host resetting its own tag: nothing to do
      const done = requests.run('trigger', { camera }, 'sparkplug');
      // the decision goes out as DDATA by itself; Trigger drops back once the part is recorded
      void this.settle(done, 'trigger', camera).then(() =>
        this.channel.publishData(camera, [metric(COMMAND_METRICS.trigger, 'Boolean', false, now())]),
      );
      return true;
    }
    if (m.name === COMMAND_METRICS.enabled) {
      if (typeof m.value !== 'boolean') return this.badValue(camera, m);
      const done = requests.run('camera/enable', { camera, enabled: m.value }, 'sparkplug');
      void this.settle(done, 'camera/enable', camera).then(() => {
        const c = this.deps.cameras.get(camera)?.snapshot();
        this.channel.publishData(camera, [
          metric(COMMAND_METRICS.enabled, 'Boolean', c?.enabled ?? null, now()),
          metric(COMMAND_METRICS.state, 'String', c?.state ?? null, now()),
        ]);
      });
      return true;
    }
    if (m.name === COMMAND_METRICS.recipe) return this.selectRecipe(m, camera);
    return false;
  }

  /** NCMD: the node's writable metrics (`Node Control/Rebirth` is the channel's). */
  private nodeCommand(m: SparkplugMetric): boolean {
    return m.name === COMMAND_METRICS.recipe ? this.selectRecipe(m) : false;
  }

  /** A recipe by id (String) or by number (an integer); answered by `recipeChanged`, or by the old value. */
  private selectRecipe(m: SparkplugMetric, device?: string): boolean {
    const value = typeof m.value === 'object' && m.value !== null ? Number(m.value) : m.value; // Long
    if (typeof value !== 'string' && typeof value !== 'number') return this.badValue(device, m);
    const done = this.deps.requests.run('recipe/select', { recipe: value }, 'sparkplug');
    // a switch is answered by RecipeChanged (on the bus); a refusal, or a recipe already active, here
    void this.settle(done, 'recipe/select', device).then((ok) => {
      if (!ok) this.recipeChanged();
    });
    void done.then(
      (data) => {
        if (!(data as { changed?: boolean } | undefined)?.changed) this.recipeChanged();
      },
      () => undefined, // settled above
    );
    return true;
  }

  /** The recipe, answered whether it changed or not (a refused select gets the unchanged value back). */
  private recipeChanged(): void {
    const recipe = this.deps.recipe?.();
    if (!recipe) return;
    const now = this.deps.clock.now();
    const node = [
      metric(COMMAND_METRICS.recipe, 'String', recipe.id, now),
      metric(COMMAND_METRICS.recipeNumber, 'UInt32', recipe.number, now),
    ];
    for (const m of node) this.lastNode.set(m.name ?? '', m.value);
    this.channel.publishData(undefined, node);
    for (const camera of this.deps.cameras.keys()) {
      this.channel.publishData(camera, [metric(COMMAND_METRICS.recipe, 'String', recipe.id, now)]);
    }
  }

  /** NDATA with the node metrics whose value changed since the last NBIRTH or NDATA. */
  private nodeChanged(): void {
    if (!this.channel.connected) return;
    const changed = this.node(this.deps.clock.now()).filter(
      (m) => this.lastNode.get(m.name ?? '') !== m.value,
    );
    if (changed.length === 0) return;
    for (const m of changed) this.lastNode.set(m.name ?? '', m.value);
    this.channel.publishData(undefined, changed);
  }

  private node(now: number): SparkplugMetric[] {
    const alerts = this.deps.alerts();
    const recipe = this.deps.recipe?.();
    return [
      metric(COMMAND_METRICS.backlog, 'UInt64', this.deps.backlog(), now),
      metric(COMMAND_METRICS.linkMqtt, 'Boolean', this.deps.mqttConnected(), now),
      metric(COMMAND_METRICS.linkPlc, 'Boolean', this.deps.plcConnected(), now),
      metric(COMMAND_METRICS.alertsActive, 'UInt32', alerts.length, now),
      metric(
        COMMAND_METRICS.alertsCritical,
        'UInt32',
        alerts.filter((a) => a.severity === 'critical').length,
        now,
      ),
      metric(
        COMMAND_METRICS.alertsCodes,
        'String',
        [...new Set(alerts.map((a) => a.code))].sort().join(','),
        now,
      ),
      ...(recipe
        ? [
            metric(COMMAND_METRICS.recipe, 'String', recipe.id, now),
            metric(COMMAND_METRICS.recipeNumber, 'UInt32', recipe.number, now),
          ]
        : []),
    ];
  }

  /** Resolves true when the request worked; a refusal is logged (it is in the request log too). */
  private settle(work: Promise<unknown>, request: string, device?: string): Promise<boolean> {
    return work.then(
      () => true,
      (err: unknown) => {
        this.deps.log.warn({ err, request, device }, 'Sparkplug command refused');
        return false;
      },
    );
  }

  private badValue(device: string | undefined, m: SparkplugMetric): boolean {
    this.deps.log.warn(
      { device, metric: m.name, value: String(m.value) },
      'Sparkplug command with a value of the wrong type; ignored',
    );
    return true;
  }
}

function metric(
  name: string,
  type: SparkplugMetric['type'],
  value: SparkplugMetric['value'],
  timestamp: number,
): SparkplugMetric {
  return { name, type, value, timestamp };
}
