import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { RequestLogEntry } from '../store/index.js';
import { sendError } from './http-errors.js';

/** Largest file accepted in a model upload (a model, or one golden image). */
const MAX_FILE_BYTES = 1024 * 1024 * 1024;

export type InstallModel = (model: string, folder: string) => Promise<unknown>;

/**
 * `POST /api/model/install` (bearer token): multipart with a `model` field (the configured model id) and
 * one file part per file of the version folder, the part's field name being its path in that folder
 * (`model.onnx`, `manifest.yaml`, `golden/ok-1.jpg`). The files are streamed to a temporary folder, then
 * handed to the model's deployment, which verifies them and runs the version in shadow. A refusal answers
 * under the status of its code: a malformed upload is EVA_ERR_UPLOAD_INVALID, a version the deployment
 * refuses EVA_ERR_MODEL_REJECTED, a file over the limit EVA_ERR_BODY_TOO_LARGE. What `install` throws
 * goes to the app's error handler (http-errors.ts), which answers with its code and logs the agent's own
 * failures.
 */
export function registerModelUpload(
  app: FastifyInstance,
  install: InstallModel,
  refusalOf: (header: string | undefined) => AgentError | undefined,
  journal?: (entry: RequestLogEntry) => void,
): void {
  const invalid = (message: string) => new AgentError(ErrorCodes.UPLOAD_INVALID, message);
  // every upload reaches the request log as `model/install`, a refused one (401) without its body
  const log = (receivedAt: number, body: string | null, error?: string) =>
    journal?.({
      receivedAt,
      via: 'http',
      name: 'model/install',
      body,
      status: error === undefined ? 'ok' : 'error',
      error,
    });
  void app.register(async (scope) => {
    await scope.register(multipart, { limits: { fileSize: MAX_FILE_BYTES, files: 1000 } });
    scope.post('/api/model/install', async (req, reply) => {
      const receivedAt = Date.now();
      const refusal = refusalOf(req.headers.authorization);
      if (refusal) {
        log(receivedAt, null, refusal.message);
        return sendError(reply, refusal);
      }
      if (!req.isMultipart()) return sendError(reply, invalid('expected multipart/form-data'));
      const folder = mkdtempSync(join(tmpdir(), 'eva-upload-'));
      try {
        let model: string | undefined;
        let transaction: string | undefined;
        let files = 0;
        const names: string[] = [];
        for await (const part of req.parts()) {
          if (part.type === 'field') {
            if (part.fieldname === 'model') model = String(part.value);
            if (part.fieldname === 'transaction') transaction = String(part.value);
            continue;
          }
          const rel = normalize(part.fieldname);
          if (rel.startsWith('..') || rel.startsWith('/') || rel.includes('\0')) {
            part.file.resume();
            return sendError(reply, invalid(`file path "${part.fieldname}" leaves the folder`));
          }
          mkdirSync(dirname(join(folder, rel)), { recursive: true });
          await pipeline(part.file, createWriteStream(join(folder, rel)));
          if (part.file.truncated) {
            const message = `${part.fieldname} is larger than the upload limit`;
            return sendError(reply, new AgentError(ErrorCodes.BODY_TOO_LARGE, message));
          }
          files++;
          if (names.length < 50) names.push(rel);
        }
        const body = JSON.stringify({ model, files: names, ...(transaction ? { transaction } : {}) });
        const refuse = (err: AgentError) => {
          log(receivedAt, body, err.message);
          return sendError(reply, err);
        };
        if (!model) return refuse(invalid('field "model" (the model id) is missing'));
        if (files === 0) return refuse(invalid('no files in the upload'));
        let data: unknown;
        try {
          data = await install(model, folder);
        } catch (err) {
          log(receivedAt, body, describeError(err));
          throw err;
        }
        log(receivedAt, JSON.stringify({ model, files: names, result: data }));
        return { status: 'ok', data, ...(transaction ? { transaction } : {}) };
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });
  });
}
