export { buildHttpApp, type HttpDeps, HttpServer, type Readiness } from './http-server.js';
export { SystemMonitor, type SystemSnapshot } from './system-monitor.js';
