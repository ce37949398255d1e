import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import {
  AgentError,
  agentError,
  boundedMessage,
  describeError,
  type ErrorCode,
  ErrorCodes,
  httpStatusOf,
} from '../errors.js';

/** Every HTTP error body: the request response's error shape (CONTRACT 3), so a client reads one shape. */
export interface ErrorBody {
  status: 'error';
  code: ErrorCode;
  error: string;
}

/** A URL is echoed in a 404 only by its start: whoever sends 8 KiB of path does not get it back. */
const MAX_URL_ECHO = 200;

export function errorBody(err: AgentError): ErrorBody {
  return { status: 'error', code: err.code, error: boundedMessage(err.message) };
}

/** Answers with the error's body, under the HTTP status of its code. */
export function sendError(reply: FastifyReply, err: AgentError): FastifyReply {
  return reply.code(httpStatusOf(err.code)).send(errorBody(err));
}

/**
 * Anything a route or fastify threw, as a coded error: an AgentError as it is; the refusals of fastify and
 * its plugins (a body over the limit, a content type nobody parses, a broken multipart stream: they carry
 * a 4xx `statusCode`) by that status; anything else is the agent's failure (INTERNAL).
 */
export function codedHttpError(err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  const code =
    status === 413
      ? ErrorCodes.BODY_TOO_LARGE
      : status === 415
        ? ErrorCodes.MEDIA_TYPE_UNSUPPORTED
        : typeof status === 'number' && status >= 400 && status < 500
          ? ErrorCodes.HTTP_INVALID
          : ErrorCodes.INTERNAL;
  return new AgentError(code, describeError(err), { cause: err });
}

/**
 * Routes nobody registered and errors nobody caught answer with a coded body too, never fastify's own
 * `{statusCode, error, message}`: one error shape on every route. Failures that are the agent's (5xx)
 * are logged.
 */
export function answerErrorsWithCodes(app: FastifyInstance, log: Logger | undefined): void {
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    const url = path.length > MAX_URL_ECHO ? `${path.slice(0, MAX_URL_ECHO)}...` : path;
    return sendError(reply, agentError('NOT_FOUND', { method: req.method, url }));
  });
  app.setErrorHandler((err, req, reply) => {
    const coded = codedHttpError(err);
    if (!coded.callerFault)
      log?.error({ err, method: req.method, url: req.routeOptions.url }, 'HTTP call failed');
    return sendError(reply, coded);
  });
}
