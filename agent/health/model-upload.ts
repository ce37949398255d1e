import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { describeError } from '../errors.js';

/** Largest file accepted in a model upload (a model, or one golden image). */
const MAX_FILE_BYTES = 1024 * 1024 * 1024;

export type InstallModel = (model: string, folder: string) => Promise<unknown>;

/**
 * `POST /api/model/install` (bearer token): multipart with a `model` field (the configured model id) and
 * one file part per file of the version folder, the part's field name being its path in that folder
 * (`model.onnx`, `manifest.yaml`, `golden/ok-1.jpg`). The files are streamed to a temporary folder, then
 * handed to the model's deployment, which verifies them and runs the version in shadow.
 */
export function registerModelUpload(
  app: FastifyInstance,
  install: InstallModel,
  authorised: (header: string | undefined) => boolean,
): void {
  void app.register(async (scope) => {
    await scope.register(multipart, { limits: { fileSize: MAX_FILE_BYTES, files: 1000 } });
    scope.post('/api/model/install', async (req, reply) => {
      if (!authorised(req.headers.authorization)) {
        return reply.code(401).send({ status: 'error', error: 'missing or wrong bearer token' });
      }
      if (!req.isMultipart()) {
        return reply.code(400).send({ status: 'error', error: 'expected multipart/form-data' });
      }
      const folder = mkdtempSync(join(tmpdir(), 'eva-upload-'));
      try {
        let model: string | undefined;
        let transaction: string | undefined;
        let files = 0;
        for await (const part of req.parts()) {
          if (part.type === 'field') {
            if (part.fieldname === 'model') model = String(part.value);
            if (part.fieldname === 'transaction') transaction = String(part.value);
            continue;
          }
          const rel = normalize(part.fieldname);
          if (rel.startsWith('..') || rel.startsWith('/') || rel.includes('\0')) {
            part.file.resume();
            return reply
              .code(400)
              .send({ status: 'error', error: `file path "${part.fieldname}" leaves the folder` });
          }
          mkdirSync(dirname(join(folder, rel)), { recursive: true });
          await pipeline(part.file, createWriteStream(join(folder, rel)));
          if (part.file.truncated) {
            return reply
              .code(400)
              .send({ status: 'error', error: `${part.fieldname} is larger than the upload limit` });
          }
          files++;
        }
        if (!model)
          return reply.code(400).send({ status: 'error', error: 'field "model" (the model id) is missing' });
        if (files === 0) return reply.code(400).send({ status: 'error', error: 'no files in the upload' });
        const data = await install(model, folder);
        return { status: 'ok', data, ...(transaction ? { transaction } : {}) };
      } catch (err) {
        return reply.code(400).send({ status: 'error', error: describeError(err) });
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });
  });
}
