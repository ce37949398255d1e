export { ModbusPlc } from './modbus-plc.js';
export { RECIPE_STATUS } from './recipe-register.js';
export { decodePartId, mapVerdict, type PlcOutputs, type VerdictLike } from './registers.js';
export { PLC_LOG_WINDOW_MS } from './throttled-log.js';
export type { PlcDeps, PlcRecipeLink, PlcRecipeStatus, PlcStatus, PlcTrigger } from './types.js';
