import { dirname, join } from 'node:path';
import type { AgentConfig } from '../../config/index.js';
import type { SparkplugOptions } from './options.js';

/**
 * The edge node's options from the agent's config: the broker settings are the JSON link's, the edge node id
 * is `agent.id`, one device per camera, and bdSeq is kept beside the store (it must survive restarts).
 */
export function sparkplugOptionsOf(config: AgentConfig): SparkplugOptions | undefined {
  const m = config.mqtt;
  if (m.format === 'json' || !m.sparkplug) return undefined;
  return {
    url: m.url,
    username: m.username,
    password: m.password,
    ca: m.ca,
    cert: m.cert,
    key: m.key,
    clientId: m.clientId,
    groupId: m.sparkplug.groupId,
    primaryHostId: m.sparkplug.primaryHostId,
    ddataQos: m.sparkplug.ddataQos,
    edgeNodeId: config.agent.id,
    deviceIds: config.cameras.map((c) => c.id),
    bdSeqFile: join(dirname(config.store.path), 'sparkplug-bdseq'),
    publishTimeoutMs: m.publishTimeoutMs,
    reconnectMinMs: m.reconnectMinMs,
    reconnectMaxMs: m.reconnectMaxMs,
    keepaliveS: m.keepaliveS,
    driftMetrics: config.drift !== undefined,
  };
}
