import pino from 'pino';
import t, { type Test } from 'tap';
import { AgentError, agentError, ErrorCodes } from '../../../agent/errors.js';
import type { RequestLogEntry } from '../../../agent/store/index.js';
import { type RequestHandlers, RequestRouter, requestSchemas } from '../../../agent/sync/index.js';
import { MAX_LOGGED_ERRORS_PER_MINUTE } from '../../../agent/sync/request-log-limit.js';
import { quietLog } from '../../helpers/fixtures.js';

/** Handlers for every request name that fail the test if called: tests override the ones they exercise. */
function unusedHandlers(t: Test): RequestHandlers {
  const entries = Object.keys(requestSchemas).map((name) => [
    name,
    async () => t.fail(`handler ${name} should not run`),
  ]);
  return Object.fromEntries(entries) as RequestHandlers;
}

function router(t: Test, opts: { now?: () => number; onUnlogged?: (e: RequestLogEntry) => void } = {}) {
  const calls: unknown[] = [];
  const journal: RequestLogEntry[] = [];
  let clock = 1000;
  const r = new RequestRouter(
    {
      ...unusedHandlers(t),
      trigger: async (args) => {
        calls.push(args);
        if (args.camera === 'nope') throw new AgentError(ErrorCodes.CAMERA_UNKNOWN, 'unknown camera "nope"');
        if (args.camera === 'boom') throw new Error('disk on fire');
        if (args.camera === 'loading') throw agentError('MODEL_UNAVAILABLE', 'model washer is loading');
        return { decisionId: 'x', seq: 1, verdict: 'OK' };
      },
      'camera/enable': async (args) => {
        calls.push(args);
        return args;
      },
      outcome: async (args) => {
        calls.push(args);
        return { outcomeId: 1 };
      },
      override: async (args) => {
        calls.push(args);
        return { overrideId: 1 };
      },
      'model/promote': async (args) => {
        calls.push(args);
        return args;
      },
      'model/rollback': async (args) => {
        calls.push(args);
        return args;
      },
    },
    quietLog,
    {
      journal: { logRequest: (e) => journal.push(e) },
      now: opts.now ?? (() => clock++),
      ...(opts.onUnlogged ? { onUnlogged: opts.onUnlogged } : {}),
    },
  );
  return { r, calls, journal };
}

t.test('a valid request is dispatched, answered with its transaction and logged', async (t) => {
  const { r, calls, journal } = router(t);
  const res = await r.handle('trigger', { transaction: 'tx-1', camera: 'cam-1', partId: 'A-1' }, 'mqtt');
  t.same(res, { status: 'ok', data: { decisionId: 'x', seq: 1, verdict: 'OK' }, transaction: 'tx-1' });
  t.same(
    calls,
    [{ camera: 'cam-1', partId: 'A-1' }],
    'the handler sees the arguments without the transaction',
  );
  t.same(journal, [
    {
      receivedAt: 1000,
      via: 'mqtt',
      name: 'trigger',
      body: '{"transaction":"tx-1","camera":"cam-1","partId":"A-1"}',
      status: 'ok',
      error: undefined,
    },
  ]);
});

t.test('outcome and override take exactly their CONTRACT fields', async (t) => {
  const { r, calls } = router(t);
  t.equal((await r.handle('outcome', { decisionId: 'd1', actual: 'NG', source: 'recheck' })).status, 'ok');
  t.equal((await r.handle('outcome', { decisionId: 'd1', actual: 'OK' })).status, 'ok', 'source is optional');
  const ov = await r.handle('override', { decisionId: 'd1', verdict: 'OK', user: ' anna ', reason: 'burr' });
  t.equal(ov.status, 'ok');
  t.same(calls, [
    { decisionId: 'd1', actual: 'NG', source: 'recheck' },
    { decisionId: 'd1', actual: 'OK' },
    { decisionId: 'd1', verdict: 'OK', user: 'anna', reason: 'burr' },
  ]);
});

t.test('each kind of bad request says which field and what was expected, and runs nothing', async (t) => {
  const { r, calls } = router(t);
  const error = async (name: string, body: unknown) => {
    const res = await r.handle(name, body);
    t.equal(res.status, 'error', `${name} ${JSON.stringify(body)} is refused`);
    return String(res.error);
  };
  const unknown = await r.handle('explode', { transaction: 7 });
  t.match(unknown.error, /unknown request "explode"; known: .*outcome.*override.*trigger/);
  t.equal(unknown.transaction, 7, 'the transaction comes back even on an error');
  t.match(await error('trigger', {}), /missing field "camera" \(expected string\)/);
  t.match(await error('trigger', { camera: 5 }), /field "camera" must be a string, got a number 5/);
  t.match(await error('camera/enable', { camera: 'c', enabled: 'yes' }), /field "enabled" must be a boolean/);
  t.match(
    await error('trigger', { camera: 'c', colour: 'red' }),
    /unknown field "colour" \(allowed: .*camera/,
  );
  t.match(await error('trigger', 'not an object'), /body must be a JSON object, got a string/);
  t.match(await error('trigger', [1]), /body must be a JSON object, got an array/);
  t.match(await error('trigger', null), /got null/);
  t.match(await error('outcome', { actual: 'NG' }), /missing field "decisionId"/);
  t.match(
    await error('outcome', { decisionId: 'd', actual: 'maybe' }),
    /field "actual" must be one of "OK", "NG", got "maybe"/,
  );
  t.match(
    await error('outcome', { decisionId: 'd', actual: 'OK', source: 3 }),
    /field "source" must be a string/,
  );
  t.match(await error('outcome', { decisionId: '', actual: 'OK' }), /field "decisionId" must not be empty/);
  t.match(
    await error('override', { decisionId: 'd', verdict: 'ERROR', user: 'a', reason: 'r' }),
    /field "verdict" must be one of "OK", "NG", "UNCERTAIN", got "ERROR"/,
  );
  const several = await error('override', { decisionId: 'd', verdict: 'OK', user: '   ' });
  t.match(several, /field "user" must not be empty/, 'blank text is no answer');
  t.match(several, /missing field "reason"/, 'every problem is reported at once');
  t.match(
    await error('override', { decisionId: 'd', verdict: 'OK', user: 'a', reason: 'x'.repeat(2001) }),
    /at most 2000/,
  );
  t.match(
    await error('trigger', { camera: 'c', transaction: { a: 1 } }),
    /field "transaction" must be a string or a number/,
  );
  t.same(calls, [], 'no handler ran');
});

t.test('malformed JSON and empty bodies from the wire', async (t) => {
  const { r, calls, journal } = router(t);
  const bad = await r.handleText('trigger', '{camera: cam-1', 'http');
  t.equal(bad.status, 'error');
  t.match(bad.error, /^malformed JSON: /);
  t.same(calls, []);
  t.match(journal[0], {
    via: 'http',
    name: 'trigger',
    body: '{camera: cam-1',
    status: 'error',
    error: /malformed/,
  });
  const empty = await r.handleText('trigger', '', 'http');
  t.match(empty.error, /missing field "camera"/, 'an empty body is an empty object');
  const ok = await r.handleText('trigger', '{"camera":"cam-1"}', 'mqtt');
  t.equal(ok.status, 'ok');
  t.equal(journal.length, 3, 'every request is logged');
});

t.test(
  'a rejected request says why; a failing handler is an error response, and both are logged',
  async (t) => {
    const { r, journal } = router(t);
    t.same(await r.handle('trigger', { camera: 'nope' }), {
      status: 'error',
      code: 'EVA_ERR_CAMERA_UNKNOWN',
      error: 'unknown camera "nope"',
    });
    t.same(await r.handle('trigger', { camera: 'boom' }), {
      status: 'error',
      code: 'EVA_ERR_INTERNAL',
      error: 'disk on fire',
    });
    t.same(
      journal.map((e) => [e.status, e.error]),
      [
        ['error', 'unknown camera "nope"'],
        ['error', 'disk on fire'],
      ],
    );
  },
);

t.test('every kind of failure answers with the code of what was wrong', async (t) => {
  const { r, journal } = router(t);
  const codeOf = async (name: string, text: string) => {
    const res = await r.handleText(name, text, 'mqtt');
    t.equal(res.status, 'error', `${name} ${text.slice(0, 40)} is an error`);
    t.type(res.error, 'string', 'with a message');
    return res.code;
  };
  t.equal(await codeOf('explode', '{}'), ErrorCodes.REQUEST_UNKNOWN, 'unknown request');
  t.equal(await codeOf('trigger', '{"camera":5}'), ErrorCodes.REQUEST_INVALID, 'a field of the wrong type');
  t.equal(await codeOf('trigger', '{"camera":"c","colour":1}'), ErrorCodes.REQUEST_INVALID, 'unknown field');
  t.equal(await codeOf('trigger', '{camera: c'), ErrorCodes.REQUEST_MALFORMED, 'malformed JSON');
  t.equal(await codeOf('trigger', '[[[[[[[[[[]]]]]]]]]]'), ErrorCodes.REQUEST_TOO_DEEP, 'nested too deep');
  t.equal(await codeOf('trigger', '{"camera":"nope"}'), ErrorCodes.CAMERA_UNKNOWN, 'unknown camera');
  t.equal(await codeOf('trigger', '{"camera":"boom"}'), ErrorCodes.INTERNAL, 'a handler that failed');
  t.equal(
    await codeOf('trigger', '{"camera":"loading"}'),
    ErrorCodes.MODEL_UNAVAILABLE,
    "a handler's coded failure keeps its code",
  );
  t.same(
    await r.handle('explode', { transaction: 'x1' }),
    {
      status: 'error',
      code: 'EVA_ERR_REQUEST_UNKNOWN',
      error: `unknown request "explode"; known: ${Object.keys(requestSchemas).join(', ')}`,
      transaction: 'x1',
    },
    'the whole shape: status, code, message and the transaction',
  );
  t.equal(journal.length, 9, 'every one is logged as before');
  t.notOk(
    journal.some((e) => 'code' in e),
    'the request log keeps its columns: the code is in the response, not the log',
  );
});

t.test("only the agent's own failures are logged as failed requests", async (t) => {
  const lines: { msg: string; request?: string }[] = [];
  const log = pino({ level: 'error' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const r = new RequestRouter(
    {
      ...unusedHandlers(t),
      trigger: async ({ camera }) => {
        if (camera === 'nope') throw agentError('CAMERA_UNKNOWN', { camera, known: ['cam-1'] });
        if (camera === 'busy') throw new AgentError(ErrorCodes.MODEL_DEPLOY, 'version 2 is already active');
        if (camera === 'loading') throw agentError('MODEL_UNAVAILABLE', 'model washer is loading');
        throw new Error('disk on fire');
      },
    },
    log,
  );
  t.match(await r.handle('trigger', { camera: 'nope' }), {
    code: 'EVA_ERR_CAMERA_UNKNOWN',
    error: 'unknown camera "nope"; known: cam-1',
  });
  t.match(await r.handle('trigger', { camera: 'busy' }), { code: 'EVA_ERR_MODEL_DEPLOY' });
  t.same(lines, [], "refusals (4xx codes) are the caller's to fix: answered, not logged as failures");
  t.match(await r.handle('trigger', { camera: 'loading' }), { code: 'EVA_ERR_MODEL_UNAVAILABLE' });
  t.match(await r.handle('trigger', { camera: 'other' }), {
    code: 'EVA_ERR_INTERNAL',
    error: 'disk on fire',
  });
  t.match(lines, [
    { msg: 'request failed', request: 'trigger' },
    { msg: 'request failed', request: 'trigger' },
  ]);
  t.equal(lines.length, 2, 'the 503 and the uncoded failure');
});

t.test('refuse logs a request turned away before it was read', async (t) => {
  const { r, journal, calls } = router(t);
  t.same(r.refuse('trigger', '{"camera":"cam-1"}', 'http', agentError('UNAUTHORISED')), {
    status: 'error',
    code: 'EVA_ERR_UNAUTHORISED',
    error: 'missing or wrong bearer token',
  });
  t.same(journal, [
    {
      receivedAt: 1000,
      via: 'http',
      name: 'trigger',
      body: null,
      status: 'error',
      error: 'missing or wrong bearer token',
    },
  ]);
  t.same(calls, []);
});

t.test(
  'refused and invalid requests past the per-minute limit are answered and counted, not logged',
  async (t) => {
    let now = 60_000;
    const unlogged: RequestLogEntry[] = [];
    const { r, journal } = router(t, { now: () => now, onUnlogged: (e) => unlogged.push(e) });
    const flood = MAX_LOGGED_ERRORS_PER_MINUTE + 5;
    for (let i = 0; i < flood; i++) {
      if (i % 2 === 0) r.refuse('trigger', 'x'.repeat(4000), 'http', agentError('UNAUTHORISED'));
      else t.equal((await r.handleText('outcome', '{"decisionId":', 'mqtt')).status, 'error');
    }
    t.equal(journal.length, MAX_LOGGED_ERRORS_PER_MINUTE, 'only the first of the minute are logged');
    t.equal(unlogged.length, 5, 'the rest are counted');
    t.ok(
      journal.every((e) => e.body === null || e.via === 'mqtt'),
      'a refused request is logged without its body',
    );

    t.equal((await r.handle('camera/enable', { camera: 'c', enabled: true })).status, 'ok');
    t.equal(journal.length, MAX_LOGGED_ERRORS_PER_MINUTE + 1, 'an ok request is always logged');

    now += 60_000;
    t.equal((await r.handleText('teleport', '{}', 'mqtt')).status, 'error');
    t.equal(journal.length, MAX_LOGGED_ERRORS_PER_MINUTE + 2, 'the next minute logs errors again');
    t.match(journal.at(-1), { name: 'teleport', status: 'error' });
  },
);

t.test('a request log that cannot be written does not break the request', async (t) => {
  const r = new RequestRouter({ ...unusedHandlers(t), 'camera/enable': async (a) => a }, quietLog, {
    journal: {
      logRequest: () => {
        throw new Error('disk full');
      },
    },
  });
  t.same(await r.handle('camera/enable', { camera: 'c', enabled: false }), {
    status: 'ok',
    data: { camera: 'c', enabled: false },
  });
});

/** `{"camera":[[[...]]]}` nested `depth` deep, as text (JSON.stringify of such a value would overflow). */
function nestedBody(depth: number): string {
  return `{"camera":${'['.repeat(depth)}${']'.repeat(depth)}}`;
}

t.test('a request nested thousands deep is answered and logged, never thrown', async (t) => {
  const { r, journal, calls } = router(t);
  const text = nestedBody(5_000);
  t.ok(text.length > 9_000, 'about 10 KB, as the campaign sent');
  const res = await r.handleText('trigger', text, 'mqtt');
  t.equal(res.status, 'error');
  t.match(res.error, /nests deeper than 8 levels/);
  t.same(calls, [], 'nothing ran');
  t.match(journal, [{ name: 'trigger', status: 'error', via: 'mqtt' }], 'logged like any bad request');
  // a shallow array where a string belongs still quotes a short preview, never the whole value
  const shallow = await r.handleText('trigger', `{"camera":[${'1,'.repeat(50_000)}1]}`, 'http');
  t.match(shallow.error, /field "camera" must be a string, got an array \[\.\.\.\]$/);
  t.ok((shallow.error ?? '').length < 200, 'the error does not echo the value');
});

t.test('error messages quote at most a short start of a long value or name', async (t) => {
  const { r } = router(t);
  const long = await r.handleText(
    'trigger',
    JSON.stringify({ camera: 7, partId: 'p'.repeat(10_000) }),
    'http',
  );
  t.ok((long.error ?? '').length < 300, `bounded: ${long.error?.length}`);
  const name = await r.handleText('x'.repeat(10_000), '{}', 'mqtt');
  t.ok((name.error ?? '').length < 300, 'an unknown name is quoted by its start');
  const str = await r.handleText(
    'outcome',
    JSON.stringify({ decisionId: 'd', actual: 'q'.repeat(1e6) }),
    'mqtt',
  );
  t.ok((str.error ?? '').length < 300, 'a long refused string is quoted by its start');
});
