export type { DatasetDeps } from './dataset-route.js';
export { buildHttpApp, type HttpDeps, HttpServer } from './http-server.js';
