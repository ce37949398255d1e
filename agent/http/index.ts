export type { DatasetDeps } from './dataset-route.js';
export { errorBody, sendError } from './http-errors.js';
export { buildHttpApp, type HttpDeps, HttpServer, type RouteSet } from './http-server.js';
