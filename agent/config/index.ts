export {
  ConfigError,
  type ConfigProblem,
  formatProblems,
  loadConfigFile,
  parseConfigText,
  topicRootOf,
} from './load.js';
export { type PlcConfig, type PlcConfigInput, plcConfigSchema } from './plc-schema.js';
export {
  type AgentConfig,
  type CameraConfig,
  configJsonSchema,
  configSchema,
  type ModelConfig,
  type ProviderName,
  type RulesConfig,
  type SourceConfig,
  type TriggerConfig,
} from './schema.js';
