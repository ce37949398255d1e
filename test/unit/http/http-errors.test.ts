import pino from 'pino';
import t, { type Test } from 'tap';
import { AgentError, agentError, ErrorCodes } from '../../../agent/errors.js';
import { codedHttpError } from '../../../agent/http/http-errors.js';
import { buildHttpApp, type HttpDeps } from '../../../agent/http/index.js';
import { type RequestHandlers, RequestRouter, requestSchemas } from '../../../agent/sync/index.js';
import { quietLog } from '../../helpers/fixtures.js';
import { stubHttpDeps } from '../../helpers/http-deps.js';

const TOKEN = 'tok-1';
const auth = { authorization: `Bearer ${TOKEN}` };

/** An app whose requests go through a real router; `trigger` fails in the way its camera name says. */
function app(t: Test, overrides: Partial<HttpDeps> = {}) {
  const handlers = Object.fromEntries(
    Object.keys(requestSchemas).map((name) => [name, async () => ({ done: name })]),
  ) as unknown as RequestHandlers;
  handlers.trigger = async ({ camera }) => {
    if (camera === 'cam-1') return { verdict: 'OK' };
    if (camera === 'boom') throw new Error('disk on fire');
    if (camera === 'busy') throw new AgentError(ErrorCodes.MODEL_DEPLOY, 'version 2 is already active');
    if (camera === 'loading') throw agentError('MODEL_UNAVAILABLE', 'model washer is loading');
    throw agentError('CAMERA_UNKNOWN', { camera, known: ['cam-1'] });
  };
  const router = new RequestRouter(handlers, quietLog);
  const http = buildHttpApp(
    stubHttpDeps({
      request: (name, body) => router.handleText(name, body, 'http'),
      refused: (name, body, why) => router.refuse(name, body, 'http', why),
      token: TOKEN,
      ...overrides,
    }),
  );
  t.teardown(() => http.close());
  return http;
}

t.test('request errors over HTTP: the body carries the code, the status is the code’s', async (t) => {
  const http = app(t);
  const post = async (name: string, payload: string, headers: Record<string, string> = auth) => {
    const res = await http.inject({ method: 'POST', url: `/api/${name}`, payload, headers });
    return { status: res.statusCode, body: res.json() };
  };
  t.match(await post('trigger', '{"camera":"cam-1"}'), { status: 200, body: { status: 'ok' } });
  const cases: [string, string, number, string, RegExp][] = [
    ['trigger', '{"camera":', 400, 'EVA_ERR_REQUEST_MALFORMED', /^malformed JSON/],
    ['trigger', '{"camera":7}', 400, 'EVA_ERR_REQUEST_INVALID', /field "camera" must be a string/],
    ['trigger', '{"camera":[[[[[[[[[]]]]]]]]]}', 400, 'EVA_ERR_REQUEST_TOO_DEEP', /nests deeper than 8/],
    [
      'trigger',
      '{"camera":"cam-9"}',
      400,
      'EVA_ERR_CAMERA_UNKNOWN',
      /^unknown camera "cam-9"; known: cam-1$/,
    ],
    ['reboot', '{}', 404, 'EVA_ERR_REQUEST_UNKNOWN', /^unknown request "reboot"/],
    ['trigger', '{"camera":"busy"}', 409, 'EVA_ERR_MODEL_DEPLOY', /already active/],
    ['trigger', '{"camera":"boom"}', 500, 'EVA_ERR_INTERNAL', /^disk on fire$/],
    ['trigger', '{"camera":"loading"}', 503, 'EVA_ERR_MODEL_UNAVAILABLE', /is loading/],
  ];
  for (const [name, payload, status, code, error] of cases) {
    t.match(await post(name, payload), { status, body: { status: 'error', code, error } }, `${code}`);
  }
  const tx = await post('trigger', '{"camera":"cam-9","transaction":"tx-9"}');
  t.same(
    tx.body,
    {
      status: 'error',
      code: 'EVA_ERR_CAMERA_UNKNOWN',
      error: 'unknown camera "cam-9"; known: cam-1',
      transaction: 'tx-9',
    },
    'the same shape as over MQTT, transaction included',
  );
  t.same(await post('trigger', '{"camera":"cam-1"}', { authorization: 'Bearer nope' }), {
    status: 401,
    body: { status: 'error', code: 'EVA_ERR_UNAUTHORISED', error: 'missing or wrong bearer token' },
  });
  t.same(await post('trigger', '{"camera":"cam-1"}', {}), {
    status: 401,
    body: { status: 'error', code: 'EVA_ERR_UNAUTHORISED', error: 'missing or wrong bearer token' },
  });
  const big = await post('trigger', `{"camera":"${'x'.repeat(1024 * 1024)}"}`);
  t.match(big, { status: 413, body: { status: 'error', code: 'EVA_ERR_BODY_TOO_LARGE' } }, 'over the limit');
});

t.test('without a configured token every request is refused with its own code', async (t) => {
  const http = app(t, { token: undefined });
  const res = await http.inject({ method: 'POST', url: '/api/trigger', payload: '{}', headers: auth });
  t.equal(res.statusCode, 401);
  t.same(res.json(), {
    status: 'error',
    code: 'EVA_ERR_TOKEN_NOT_CONFIGURED',
    error: 'no health.token configured: state-changing calls are refused',
  });
});

t.test('route errors carry codes: queries, missing decisions and images, unknown routes', async (t) => {
  const http = app(t);
  const get = async (url: string) => {
    const res = await http.inject(url);
    return { status: res.statusCode, body: res.json() };
  };
  t.match(await get('/api/decisions?verdict=BAD&cam=1'), {
    status: 400,
    body: {
      status: 'error',
      code: 'EVA_ERR_QUERY_INVALID',
      error: /unknown filter "cam".*; verdict must be/,
    },
  });
  t.match(await get('/api/decisions/nope'), {
    status: 404,
    body: { status: 'error', code: 'EVA_ERR_DECISION_NOT_FOUND', error: 'no decision nope' },
  });
  t.match(await get('/api/decisions/nope/image'), {
    status: 404,
    body: {
      code: 'EVA_ERR_IMAGE_NOT_FOUND',
      error: 'no frame image for decision nope: images are not stored',
    },
  });
  t.match(await get('/api/decisions/nope/image?kind=thumbnail'), {
    status: 400,
    body: { code: 'EVA_ERR_QUERY_INVALID', error: /^kind must be one of frame/ },
  });
  t.same(await get('/nope?x=1'), {
    status: 404,
    body: { status: 'error', code: 'EVA_ERR_NOT_FOUND', error: 'no route GET /nope' },
  });
  const long = await get(`/${'a'.repeat(5000)}`);
  t.equal(long.status, 404);
  t.ok(long.body.error.length < 250, 'a long URL is quoted by its start');
  t.match(
    await get('/api/trigger'),
    { status: 404, body: { code: 'EVA_ERR_NOT_FOUND' } },
    'requests are POST',
  );
});

t.test('a route that throws answers with the code, and the agent’s own failures are logged', async (t) => {
  const lines: { msg: string; url?: string }[] = [];
  const log = pino({ level: 'error' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  let failure: unknown = new Error('database is locked');
  const http = app(t, {
    log,
    status: () => {
      throw failure;
    },
  });
  let res = await http.inject('/api/status');
  t.equal(res.statusCode, 500);
  t.same(res.json(), { status: 'error', code: 'EVA_ERR_INTERNAL', error: 'database is locked' });
  failure = new AgentError(ErrorCodes.STORE_FULL, 'disk full');
  res = await http.inject('/api/status');
  t.equal(res.statusCode, 507);
  t.same(res.json(), { status: 'error', code: 'EVA_ERR_STORE_FULL', error: 'disk full' });
  failure = new AgentError(ErrorCodes.MODEL_DEPLOY, 'version 2 is already active');
  res = await http.inject('/api/status');
  t.equal(res.statusCode, 409);
  t.match(lines, [
    { msg: 'HTTP call failed', url: '/api/status' },
    { msg: 'HTTP call failed', url: '/api/status' },
  ]);
  t.equal(lines.length, 2, 'the 5xx are logged, the 409 is not');
});

t.test('the upload route: its own refusals and fastify’s carry codes', async (t) => {
  const http = app(t, { installModel: async () => ({ installed: true }) });
  const upload = async (headers: Record<string, string>, payload = '') => {
    const res = await http.inject({ method: 'POST', url: '/api/model/install', headers, payload });
    return { status: res.statusCode, body: res.json() };
  };
  t.match(await upload({ 'content-type': 'text/plain' }), {
    status: 401,
    body: { code: 'EVA_ERR_UNAUTHORISED' },
  });
  t.match(await upload({ ...auth, 'content-type': 'text/plain' }, 'model=washer'), {
    status: 400,
    body: { status: 'error', code: 'EVA_ERR_UPLOAD_INVALID', error: 'expected multipart/form-data' },
  });
  t.match(await upload({ ...auth, 'content-type': 'application/json' }), {
    status: 400,
    body: { status: 'error', code: 'EVA_ERR_HTTP_INVALID' },
  });
  t.match(await upload({ ...auth, 'content-type': 'application/xml' }, '<model/>'), {
    status: 415,
    body: { status: 'error', code: 'EVA_ERR_MEDIA_TYPE_UNSUPPORTED' },
  });
});

t.test('codedHttpError: what fastify and its plugins throw, by their status', async (t) => {
  const fastifyError = (statusCode: number, message: string) =>
    Object.assign(new Error(message), { statusCode });
  const coded = agentError('UNAUTHORISED');
  t.equal(codedHttpError(coded), coded, 'a coded error as it is');
  t.match(codedHttpError(fastifyError(413, 'too large')), {
    code: 'EVA_ERR_BODY_TOO_LARGE',
    message: 'too large',
  });
  t.match(codedHttpError(fastifyError(415, 'xml')), { code: 'EVA_ERR_MEDIA_TYPE_UNSUPPORTED' });
  t.match(codedHttpError(fastifyError(406, 'multipart')), { code: 'EVA_ERR_HTTP_INVALID' });
  t.match(codedHttpError(fastifyError(503, 'x')), { code: 'EVA_ERR_INTERNAL' }, 'a 5xx is the agent’s');
  t.match(codedHttpError('a string'), { code: 'EVA_ERR_INTERNAL', message: 'a string' });
  const plain = new Error('bug');
  t.equal(codedHttpError(plain).cause, plain, 'the original is the cause');
});
