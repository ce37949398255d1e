import { DriftMonitor } from './drift/index.js';
import type { DecisionStore } from './store/index.js';
import { DriftPublisher, type DriftSink, type MqttLink } from './sync/index.js';
import type { Kernel } from './wiring.js';

/**
 * Drift monitoring, when agent.yaml has a `drift` section (docs/drift.md): the monitor (listens to the bus,
 * gives each camera's inspector its gate when `drift.gate` is on) and the publisher of `R/drift/<camera>`
 * (and the Sparkplug `Drift/...` metrics). Part of the composition root: wiring only.
 */
export function buildDrift(
  k: Kernel,
  parts: { store: DecisionStore; link: MqttLink; sparkplug: DriftSink | undefined },
): { monitor: DriftMonitor; publisher: DriftPublisher } | undefined {
  const config = k.config.drift;
  if (!config) return undefined;
  const log = k.log.child({ module: 'drift' });
  const monitor = new DriftMonitor(config, {
    agentId: k.config.agent.id,
    cameras: k.config.cameras.map((c) => ({ id: c.id, model: c.model })),
    store: parts.store,
    clock: k.clock,
    log,
    events: k.events,
    alerts: k.alerts,
    registry: k.metrics.registry,
  });
  const publisher = new DriftPublisher(parts.link, parts.sparkplug, { events: k.events, log });
  return { monitor, publisher };
}
