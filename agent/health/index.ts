export { buildHttpApp, type HttpDeps, HttpServer, type Readiness } from './http-server.js';
export { BACKLOG_WARNING, type Problem, StatusService, type StatusSources } from './status-service.js';
export { SystemMonitor, type SystemSnapshot } from './system-monitor.js';
