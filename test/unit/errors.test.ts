import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  AgentError,
  agentError,
  ErrorCodes,
  type ErrorName,
  errorTable,
  httpStatusOf,
} from '../../agent/errors.js';

const names = Object.keys(errorTable) as ErrorName[];

/**
 * What each template is called with here: a code added to the table without a sample here does not type
 * check, so every template is rendered at least once.
 */
const samples: { [N in ErrorName]: Parameters<(typeof errorTable)[N]['message']> } = {
  CONFIG_INVALID: ['agent.yaml: 1 problem(s)'],
  CONFIG_READ: ['cannot read agent.yaml'],
  HTTP_LISTEN: ['port 8080 is in use'],
  SHUTDOWN_TIMEOUT: [{ part: 'PLC loop', ms: 3000 }],
  MODEL_LOAD: ['x.onnx is not an ONNX model'],
  MODEL_MANIFEST: ['manifest is invalid'],
  MODEL_GOLDEN: ['golden images failed'],
  MODEL_UNAVAILABLE: ['model washer is loading'],
  MODEL_REJECTED: ['upload refused'],
  MODEL_DEPLOY: ['version 2 is already active'],
  MODEL_GATE: ['version 2 not promoted: agreement gate failed'],
  MODEL_UNKNOWN: [{ model: 'bolt', known: ['washer', 'detector'] }],
  INFERENCE_FAILED: ['inference failed'],
  WORKER_DIED: ['inference worker crashed'],
  FRAME_DECODE: ['frame could not be decoded'],
  CAMERA_TIMEOUT: ['no frame for 2000 ms'],
  CAMERA_SOURCE: ['camera unreachable'],
  CAMERA_DISABLED: [{ camera: 'cam-1', state: 'disabled' }],
  CAMERA_UNKNOWN: [{ camera: 'cam-9', known: ['cam-1'] }],
  PLC_IO: [{ op: 'trigger', detail: 'Timed out (ETIMEDOUT)' }],
  RECIPE_UNKNOWN: [{ recipe: 'product-z', known: ['product-a (1)', 'product-b (2)'] }],
  RECIPE_MODEL_UNAVAILABLE: [{ recipe: 'product-b', model: 'washer-int8', why: 'failed to load: bad file' }],
  RECIPE_BUSY: ['recipes cannot be switched while the agent is starting'],
  OPCUA_START: ['cannot listen on port 4840: address in use'],
  STORE_OPEN: ['cannot open the store'],
  STORE_WRITE: ['cannot store a decision'],
  STORE_FULL: ['disk full'],
  STORE_UNWRITABLE: ['disk I/O error'],
  DRIFT_NOT_CONFIGURED: [],
  DRIFT_BASELINE: ['no images in /data/commissioning'],
  MQTT_PUBLISH_TIMEOUT: ['no PUBACK within 5000 ms'],
  MQTT_CONNECT: ['not connected to the broker'],
  REQUEST_MALFORMED: ['Unexpected token c'],
  REQUEST_TOO_DEEP: [8],
  REQUEST_UNKNOWN: [{ name: 'reboot', known: ['trigger', 'outcome'] }],
  REQUEST_INVALID: [{ name: 'trigger', problems: 'missing field "camera" (expected string)' }],
  REQUEST_RETAINED: [],
  DECISION_UNKNOWN: ['d-1'],
  UNAUTHORISED: [],
  TOKEN_NOT_CONFIGURED: [],
  QUERY_INVALID: [['limit must be an integer from 1 to 1000', 'unknown filter "cam"']],
  DECISION_NOT_FOUND: ['d-1'],
  IMAGE_NOT_FOUND: [{ id: 'd-1', kind: 'frame', reason: 'no image was kept' }],
  NOT_FOUND: [{ method: 'GET', url: '/nope' }],
  UPLOAD_INVALID: ['expected multipart/form-data'],
  CAMERA_NOT_FOUND: [{ camera: 'cam-9', known: ['cam-1'] }],
  FRAME_UNAVAILABLE: ['camera cam-1 has no frame yet'],
  STREAMS_BUSY: [{ what: 'live streams', limit: 16 }],
  PAGE_NOT_BUILT: ['the page is not built: run npm run build'],
  DATASET_INVALID: ['no manifest.json in the archive'],
  BODY_TOO_LARGE: ['Request body is too large'],
  MEDIA_TYPE_UNSUPPORTED: ['Unsupported Media Type: application/xml'],
  HTTP_INVALID: ['Body cannot be empty'],
  INTERNAL: ['disk on fire'],
};

t.test('the table is complete: every code has its name, an HTTP status and a template', async (t) => {
  t.ok(names.length >= 40, `${names.length} codes`);
  const statuses = new Set([400, 401, 404, 409, 413, 415, 500, 502, 503, 504, 507]);
  for (const name of names) {
    const spec = errorTable[name];
    t.equal(spec.code, `EVA_ERR_${name}`, `${name}: the code is EVA_ERR_ and the name`);
    t.equal(ErrorCodes[name], spec.code, `${name}: ErrorCodes lists it`);
    t.ok(statuses.has(spec.status), `${name}: an error status (${spec.status})`);
    t.equal(httpStatusOf(spec.code), spec.status, `${name}: httpStatusOf reads the table`);
    t.type(spec.message, 'function', `${name}: a template`);
    t.ok(spec.message.length <= 1, `${name}: the template takes at most one argument`);
    const render = spec.message as (...args: unknown[]) => string;
    const text = render(...samples[name]);
    t.ok(text.length > 0, `${name}: renders "${text}"`);
  }
  t.equal(new Set(names.map((n) => errorTable[n].code)).size, names.length, 'no code is listed twice');
  t.same(Object.keys(ErrorCodes), names, 'ErrorCodes has the same names, in order');
  t.ok(Object.isFrozen(errorTable) && Object.isFrozen(ErrorCodes), 'neither can be changed at run time');
});

t.test('agentError writes the message from the template and keeps the cause', async (t) => {
  for (const name of names) {
    const args = samples[name] as unknown[];
    const err = (agentError as (n: ErrorName, ...a: unknown[]) => AgentError)(name, ...args);
    t.ok(err instanceof AgentError, name);
    t.equal(err.code, ErrorCodes[name]);
    t.equal(err.message, (errorTable[name].message as (...a: unknown[]) => string)(...args));
  }
  t.equal(
    agentError('CAMERA_UNKNOWN', { camera: 'cam-9', known: ['cam-1', 'cam-2'] }).message,
    'unknown camera "cam-9"; known: cam-1, cam-2',
  );
  t.equal(agentError('DECISION_UNKNOWN', 'x').message, 'unknown decision "x": nothing recorded');
  t.equal(agentError('UNAUTHORISED').message, 'missing or wrong bearer token');
  const cause = new Error('ETIMEDOUT');
  const io = agentError('PLC_IO', { op: 'trigger', detail: 'Timed out' }, { cause });
  t.equal(io.message, 'PLC trigger: Timed out');
  t.equal(io.cause, cause, 'the cause is kept');
  t.equal(
    agentError('REQUEST_RETAINED', { cause }).cause,
    cause,
    'a template without parameters takes options',
  );
  t.equal(agentError('REQUEST_RETAINED').cause, undefined);
  t.equal(new AgentError(ErrorCodes.STORE_FULL, 'disk full').name, 'AgentError');
});

t.test('4xx codes are the caller at fault, 5xx the agent', async (t) => {
  t.equal(agentError('CAMERA_UNKNOWN', { camera: 'x', known: [] }).callerFault, true);
  t.equal(agentError('UNAUTHORISED').callerFault, true);
  t.equal(new AgentError(ErrorCodes.MODEL_DEPLOY, 'already active').callerFault, true);
  t.equal(new AgentError(ErrorCodes.MODEL_UNAVAILABLE, 'loading').callerFault, false);
  t.equal(new AgentError(ErrorCodes.INTERNAL, 'bug').callerFault, false);
});

t.test('docs/errors.md lists every code with its HTTP status', async (t) => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map(
    [...doc.matchAll(/^\| `(EVA_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]),
  );
  for (const name of names) {
    const { code, status } = errorTable[name];
    t.equal(rows.get(code), status, `${code} is documented with ${status}`);
  }
  t.equal(rows.size, names.length, 'and nothing else');
});
