export {
  type ResultFields,
  resultFieldsOf,
  resultStateOf,
  type VisionState,
  visionStateOf,
} from './mapping.js';
export { OpcUaService } from './opcua-service.js';
export type { OpcUaParts, OpcUaStatus } from './types.js';
