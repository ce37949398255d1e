export { buildHttpApp, type HttpDeps, HttpServer, type Readiness } from './http-server.js';
export { type SystemSnapshot, SystemMonitor } from './system-monitor.js';
