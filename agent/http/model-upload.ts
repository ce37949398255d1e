import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import type { RequestLogEntry } from '../store/index.js';
import { sendError } from './http-errors.js';

/** What was received of one file of an upload: counted and hashed while it streamed to disk. */
export interface UploadedFile {
  bytes: number;
  sha256: string;
}

/** The files of an upload by their path in the version folder (`model.onnx`, `golden/ok-1.jpg`). */
export type UploadedFiles = Readonly<Record<string, UploadedFile>>;

export type InstallModel = (model: string, folder: string, files: UploadedFiles) => Promise<unknown>;

export interface ModelUploadOptions {
  /** Why a call is refused (no or wrong bearer token), or undefined when it may go on. */
  refusalOf: (header: string | undefined) => AgentError | undefined;
  /** The largest file accepted (`health.maxUploadMB`): a larger one is cut off while it streams. */
  maxFileBytes: number;
  /** Where uploads are staged; best on the disk the model versions live on (default: the OS's tmpdir). */
  uploadDir?: string;
  /** The request log: every upload reaches it as `model/install`, a refused one (401) without its body. */
  journal?: (entry: RequestLogEntry) => void;
}

/**
 * `POST /api/model/install` (bearer token): multipart with a `model` field (the configured model id) and
 * one file part per file of the version folder, the part's field name being its path in that folder
 * (`model.onnx`, `manifest.yaml`, `golden/ok-1.jpg`). Each file streams to a staging folder through a
 * SHA-256 and a byte count, never into memory (a 1 GB upload left RSS at 2 GB when it was read whole), and
 * is cut off at `maxFileBytes`: the answer is then EVA_ERR_BODY_TOO_LARGE at once and the connection is
 * closed, so the rest is not even received. The folder and the hashes go to the model's deployment, which
 * verifies them (ONNX layout first, without reading the file) and runs the version in shadow. The token is
 * checked before the body is looked at, its Content-Type included. A malformed upload is
 * EVA_ERR_UPLOAD_INVALID, a version the deployment refuses EVA_ERR_MODEL_REJECTED. What `install` throws
 * goes to the app's error handler (http-errors.ts), which answers with its code and logs the agent's own
 * failures. The staging folder is removed whatever happens.
 */
export function registerModelUpload(
  app: FastifyInstance,
  install: InstallModel,
  options: ModelUploadOptions,
): void {
  const invalid = (message: string) => new AgentError(ErrorCodes.UPLOAD_INVALID, message);
  const log = (receivedAt: number, body: string | null, error?: string) =>
    options.journal?.({
      receivedAt,
      via: 'http',
      name: 'model/install',
      body,
      status: error === undefined ? 'ok' : 'error',
      error,
    });
  void app.register(async (scope) => {
    await scope.register(multipart, {
      limits: { fileSize: options.maxFileBytes, files: 1000, fields: 20, fieldSize: 1024, parts: 1020 },
    });
    scope.addHook('onRequest', async (req, reply) => {
      const refusal = options.refusalOf(req.headers.authorization);
      if (refusal) {
        log(Date.now(), null, refusal.message);
        return sendError(reply, refusal);
      }
      return undefined;
    });
    scope.post('/api/model/install', async (req, reply) => {
      const receivedAt = Date.now();
      if (!req.isMultipart()) return sendError(reply, invalid('expected multipart/form-data'));
      const base = options.uploadDir ?? tmpdir();
      mkdirSync(base, { recursive: true });
      const folder = mkdtempSync(join(base, 'eva-upload-'));
      try {
        let model: string | undefined;
        let transaction: string | undefined;
        const files: Record<string, UploadedFile> = {};
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
          const hash = createHash('sha256');
          let bytes = 0;
          const count = new Transform({
            transform(chunk: Buffer, _encoding, done) {
              hash.update(chunk);
              bytes += chunk.length;
              done(null, chunk);
            },
          });
          // busboy stops passing a file on at the limit but reads the request on to the file's end: answer at
          // the limit instead, and close the connection after the answer, so the rest is never received
          const overLimit = new Promise<'limit'>((resolve) =>
            part.file.once('limit', () => resolve('limit')),
          );
          const written = pipeline(part.file, count, createWriteStream(join(folder, rel)));
          if ((await Promise.race([written, overLimit])) === 'limit' || part.file.truncated) {
            written.catch(() => {}); // ends with the connection
            const limit = sizeText(options.maxFileBytes);
            const message = `${part.fieldname} is larger than the upload limit (${limit}, health.maxUploadMB)`;
            reply.header('connection', 'close');
            return sendError(reply, new AgentError(ErrorCodes.BODY_TOO_LARGE, message));
          }
          files[rel] = { bytes, sha256: hash.digest('hex') };
        }
        const names = Object.keys(files).slice(0, 50);
        const body = JSON.stringify({ model, files: names, ...(transaction ? { transaction } : {}) });
        const refuse = (err: AgentError) => {
          log(receivedAt, body, err.message);
          return sendError(reply, err);
        };
        if (!model) return refuse(invalid('field "model" (the model id) is missing'));
        if (names.length === 0) return refuse(invalid('no files in the upload'));
        let data: unknown;
        try {
          data = await install(model, folder, files);
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

/** `1024 MiB`, `16 KiB`. */
function sizeText(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 1 ? `${Math.round(mib)} MiB` : `${Math.round(bytes / 1024)} KiB`;
}
