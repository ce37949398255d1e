export { SparkplugChannel, type SparkplugExtension, type SparkplugStatus } from './channel.js';
export { COMMAND_METRICS, type CommandDeps, NODE_CHECK_MS, SparkplugCommands } from './commands.js';
export { type SessionEvents, SparkplugConnection } from './connection.js';
export { sparkplugOptionsOf } from './from-config.js';
export {
  assertSparkplugOptions,
  BdSeqFile,
  checkSparkplugOptions,
  SPARKPLUG_DEFAULTS,
  type SparkplugOptions,
} from './options.js';
export {
  DEVICE_METRICS,
  DRIFT_METRICS,
  type HostState,
  NAMESPACE,
  NODE_METRICS,
  type SparkplugMetric,
  type SparkplugPayload,
  sparkplugTopics,
} from './payloads.js';
