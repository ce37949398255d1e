export { buildHttpApp, type HttpDeps, HttpServer } from './http-server.js';
