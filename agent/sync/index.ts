export { AlertPublisher } from './alerts.js';
export { auditRequestHandlers } from './audit-requests.js';
export { type DeliveryChannel, JsonChannel } from './channel.js';
export { DriftPublisher, type DriftSink } from './drift-publisher.js';
export { HEALTH_PERIOD_MS, HealthReporter } from './health-reporter.js';
export {
  byId,
  driftRequestHandlers,
  lineRequestHandlers,
  type RequestableCamera,
  type RequestableDrift,
  type RequestableModel,
} from './line-requests.js';
export {
  type Farewell,
  type MessageMeta,
  MqttConnection,
  type MqttConnectionOptions,
  type MqttConnectionStatus,
  type MqttWill,
} from './mqtt-connection.js';
export { explainMqttError } from './mqtt-errors.js';
export { type AgentState, type LinkStatus, MqttLink, redactUrl } from './mqtt-link.js';
export { OutboxPublisher, type PublisherOptions } from './outbox-publisher.js';
export { PlantRequests } from './plant-requests.js';
export { type RequestableRecipes, recipeRequestHandlers } from './recipe-requests.js';
export {
  MAX_REQUEST_BYTES,
  type RequestArgs,
  type RequestHandlers,
  type RequestJournal,
  type RequestName,
  type RequestResponse,
  RequestRouter,
  type RouterOptions,
  requestSchemas,
} from './requests.js';
export type { SparkplugStatus } from './sparkplug/index.js';
export { type CameraStatePayload, STATE_CHECK_MS, StateTopics } from './state-topics.js';
export { TokenBucket } from './token-bucket.js';
