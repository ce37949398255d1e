import type { Logger } from 'pino';
import { z } from 'zod';
import { describeError } from '../errors.js';
import type { MqttLink } from './mqtt-link.js';

/** `{status, data, error, transaction}`: the one response shape for MQTT and HTTP requests (CONTRACT 3). */
export interface RequestResponse {
  status: 'ok' | 'error';
  data?: unknown;
  error?: string;
  transaction?: string | number;
}

const transaction = z.union([z.string(), z.number()]).optional();

/** Every request's arguments, by name: the single map from request topic to payload type. */
export const requestSchemas = {
  trigger: z.strictObject({
    transaction,
    camera: z.string().min(1),
    partId: z.string().min(1).max(200).optional(),
  }),
  'camera/enable': z.strictObject({ transaction, camera: z.string().min(1), enabled: z.boolean() }),
  'model/promote': z.strictObject({
    transaction,
    model: z.string().min(1),
    version: z.union([z.string().min(1), z.number()]).transform(String),
  }),
  'model/rollback': z.strictObject({ transaction, model: z.string().min(1) }),
} as const;

export type RequestName = keyof typeof requestSchemas;
export type RequestArgs<N extends RequestName> = Omit<z.output<(typeof requestSchemas)[N]>, 'transaction'>;
export type RequestHandlers = { [N in RequestName]: (args: RequestArgs<N>) => Promise<unknown> };

/** Thrown by a handler for a request that is well-formed but cannot be done (unknown camera, ...). */
export class RequestRejected extends Error {}

/**
 * Validates and dispatches requests. A malformed or unknown request gets `status: "error"` saying what was
 * wrong and changes nothing.
 */
export class RequestRouter {
  constructor(
    private readonly handlers: RequestHandlers,
    private readonly log: Logger,
  ) {}

  async handle(name: string, body: unknown): Promise<RequestResponse> {
    const tx = pickTransaction(body);
    const fail = (error: string): RequestResponse => ({
      status: 'error',
      error,
      ...(tx !== undefined ? { transaction: tx } : {}),
    });
    if (!Object.hasOwn(requestSchemas, name)) {
      return fail(`unknown request "${name}"; known: ${Object.keys(requestSchemas).join(', ')}`);
    }
    const schema = requestSchemas[name as RequestName];
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      return fail(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    }
    const { transaction: _tx, ...args } = parsed.data as { transaction?: unknown } & Record<string, unknown>;
    try {
      const handler = this.handlers[name as RequestName] as (a: unknown) => Promise<unknown>;
      const data = await handler(args);
      return {
        status: 'ok',
        ...(data !== undefined ? { data } : {}),
        ...(tx !== undefined ? { transaction: tx } : {}),
      };
    } catch (err) {
      if (!(err instanceof RequestRejected)) this.log.error({ err, request: name }, 'request failed');
      return fail(describeError(err));
    }
  }

  /** Serves `R/request/<name>` and answers on `R/response/<name>`. */
  attach(link: MqttLink): void {
    const prefix = `${link.topicRoot}/request/`;
    link.onMessage((topic, payload) => {
      if (!topic.startsWith(prefix)) return;
      const name = topic.slice(prefix.length);
      let body: unknown;
      try {
        body = JSON.parse(payload.toString('utf8'));
      } catch (err) {
        this.respond(link, name, { status: 'error', error: `malformed JSON: ${describeError(err)}` });
        return;
      }
      void this.handle(name, body).then((response) => this.respond(link, name, response));
    });
  }

  private respond(link: MqttLink, name: string, response: RequestResponse): void {
    link
      .publish(`${link.topicRoot}/response/${name}`, JSON.stringify(response), { qos: 1 })
      .catch((err: unknown) => this.log.warn({ err, request: name }, 'could not publish a response'));
  }
}

function pickTransaction(body: unknown): string | number | undefined {
  if (body && typeof body === 'object' && 'transaction' in body) {
    const tx = (body as { transaction: unknown }).transaction;
    if (typeof tx === 'string' || typeof tx === 'number') return tx;
  }
  return undefined;
}
