import { z } from 'zod';
import { defaultDriftConfig, driftSchema, parseDuration } from './drift-schema.js';
import { plcConfigSchema } from './plc-schema.js';
import { opcuaSchema, recipeSchema } from './recipe-schema.js';
import { rulesSchema } from './rules-schema.js';

export { defaultDriftConfig, parseDuration };

/**
 * The one schema of agent.yaml (CONTRACT section 2). The TypeScript types are inferred from it and the defaults
 * live in it, so nothing else may restate a default. Keys added beyond the contract are marked "extension".
 */

// Defaults that code also needs without a config (a source or publisher built directly: tests, benches,
// the sparkplug channel's own options) are named here, used by the schema below, and imported from config.

/** What plants expect (and Frigate does): 20 s without a frame is a dead stream, restart it. */
export const NO_FRAME_TIMEOUT_MS = 20_000;
/** An HTTP snapshot slower than this fails its shot with EVA_ERR_CAMERA_TIMEOUT. */
export const SNAPSHOT_TIMEOUT_MS = 5_000;
/** The ffmpeg binary for rtsp and v4l2 sources: the one on PATH. */
export const FFMPEG_PATH = 'ffmpeg';
/** TCP: no lost packets (smeared frames), and it passes NAT and firewalls; UDP only when asked. */
export const RTSP_TRANSPORT = 'tcp';
/** While live decisions are in flight, the backlog may hold at most this share of the in-flight window. */
export const BACKLOG_SHARE = 0.5;
/** Backlog decisions per second at most; 0 = as fast as the window allows. */
export const BACKLOG_RATE_PER_SEC = 0;
/** How long a QoS 1 publish waits for its PUBACK before it counts as failed. */
export const MQTT_PUBLISH_TIMEOUT_MS = 10_000;
/**
 * MQTT keepalive: the broker is pinged after this long without a packet from it, and a session that has heard
 * nothing for 1.5 times this is given up (a paused broker is noticed within 23 s, not never).
 */
export const MQTT_KEEPALIVE_S = 15;
/** How often the running model's file is checked for a change on disk (stat; hashed only when it changed). */
export const MODEL_FILE_CHECK_MS = 30_000;
/** Reconnect backoff bounds (exponential, jittered). */
export const MQTT_RECONNECT_MIN_MS = 1_000;
export const MQTT_RECONNECT_MAX_MS = 30_000;
/** A folder camera's file is taken once unchanged this long: an FTP upload that pauses is not judged half-done. */
export const FOLDER_SETTLE_MS = 1_000;
/** A JPEG/PNG without its end marker (or an empty file) is judged as it is (ERROR) once unchanged this long. */
export const FOLDER_INCOMPLETE_MS = 30_000;
/** A folder camera never reads a file larger than this (a 40 Mpx JPEG is ~20 MB; a 16-bit TIFF more). */
export const FOLDER_MAX_FILE_MB = 64;
/** HTTP limits (docs/security.md): sockets at once, and how long a client may take to send its request. */
export const HTTP_MAX_CONNECTIONS = 64;
export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
export const HTTP_REQUEST_TIMEOUT_MS = 300_000;
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** The largest file a model upload may carry (a model, or one golden image). */
export const HTTP_MAX_UPLOAD_MB = 1024;
/** Sparkplug DDATA at QoS 1 keeps "marked sent only on PUBACK"; 0 is the spec's QoS (docs/sparkplug.md). */
export const SPARKPLUG_DDATA_QOS = 1;

const idPattern = /^[a-zA-Z0-9_-]+$/;
const identifier = z.string().regex(idPattern, 'must match [a-zA-Z0-9_-]+');

const siteSchema = z.strictObject({
  enterprise: identifier,
  site: identifier,
  area: identifier,
  line: identifier,
});

const agentSchema = z.strictObject({
  id: identifier,
  site: siteSchema.optional(),
});

const hardExamplesSchema = z.strictObject({
  enabled: z.boolean().default(true),
  // at most this share of store.maxDiskMB, and only what the decisions and their images leave free
  maxShare: z.number().min(0).max(0.5).default(0.1),
  // classification: top score minus the next one below this is a close call
  marginBelow: z.number().min(0).max(1).default(0.2),
  // classification: normalised entropy of the scores above this (0 sure, 1 no idea)
  entropyAbove: z.number().min(0).max(1).default(0.8),
  // anomaly: a score this close to the threshold
  anomalyWithin: z.number().min(0).max(1).default(0.05),
});

const storeSchema = z.strictObject({
  path: z.string().min(1).default('./data/agent.db'),
  // extension: when not set, images live beside the database (`<dir of path>/images`, ./data/images for the
  // default path), so an agent given only `path` never writes images into its working directory
  imagesDir: z.string().min(1).optional(),
  maxDiskMB: z.number().int().positive().default(2048),
  retentionDays: z.number().positive().default(30),
  keepOkImageEvery: z.number().int().min(0).default(50),
  // extension: room kept back so a full disk can be recovered from (a file released when SQLite needs room
  // to free space, made again after); at most a tenth of maxDiskMB and of the file system; 0 = none
  reserveMB: z.number().min(0).default(8),
  // extension: frames kept for labelling, the ones the model was least sure about (docs/dataset.md)
  hardExamples: hardExamplesSchema.default(hardExamplesSchema.parse({})),
});

const mqttSchema = z.strictObject({
  url: z
    .string()
    .regex(/^mqtts?:\/\/[^\s]+$/, 'must be an mqtt:// or mqtts:// URL')
    .default('mqtt://localhost:1883'),
  username: z.string().optional(),
  password: z.string().optional(),
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  clientId: z.string().min(1).optional(),
  format: z.enum(['json', 'sparkplug', 'both']).default('json'),
  // a topic filter's wildcards (+, #) or NUL would make every topic under it a filter, not a name: a publish
  // there is refused by the broker, a subscription would read other agents' requests; a leading $ is the
  // broker's own ($SYS), and a leading or trailing / an empty level nobody means
  topicRoot: z
    .string()
    .min(1)
    .max(200)
    .refine(
      (s) => !s.includes('+') && !s.includes('#') && !s.includes('\u0000'),
      'must not contain the MQTT wildcards + or # (it is a topic name)',
    )
    .refine((s) => !s.startsWith('$'), 'must not start with $ (reserved for the broker)')
    .refine((s) => !s.startsWith('/') && !s.endsWith('/'), 'must not start or end with /')
    .optional(),
  sparkplug: z
    .strictObject({
      groupId: identifier,
      // extension: gate publishing on this primary host's STATE (Sparkplug 3.0)
      primaryHostId: identifier.optional(),
      // extension: 1 keeps "marked sent only on PUBACK"; 0 is the spec's DDATA QoS (docs/sparkplug.md)
      ddataQos: z.union([z.literal(0), z.literal(1)]).default(SPARKPLUG_DDATA_QOS),
    })
    .optional(),
  // extension: how long a QoS 1 publish may wait for its PUBACK before it counts as failed
  publishTimeoutMs: z.number().int().positive().default(MQTT_PUBLISH_TIMEOUT_MS),
  // extension: at most this many decisions awaiting PUBACK at once
  maxInFlight: z.number().int().positive().default(32),
  // extension: while live decisions are in flight, the backlog may hold at most this share of the window
  backlogShare: z.number().min(0).max(1).default(BACKLOG_SHARE),
  // extension: backlog decisions sent per second at most (0 = unlimited), so a long outage's backlog does
  // not saturate a thin uplink
  backlogRatePerSec: z.number().min(0).default(BACKLOG_RATE_PER_SEC),
  // extension: keepalive in seconds; a broker silent for 1.5 times this is taken as gone (docs/delivery.md)
  keepaliveS: z.number().int().min(1).max(3_600).default(MQTT_KEEPALIVE_S),
  // extension: reconnect backoff bounds (exponential, jittered)
  reconnectMinMs: z.number().int().positive().default(MQTT_RECONNECT_MIN_MS),
  reconnectMaxMs: z.number().int().positive().default(MQTT_RECONNECT_MAX_MS),
});

const healthSchema = z
  .strictObject({
    listen: z
      .string()
      .regex(/^[^\s:]*:\d{1,5}$/, 'must be HOST:PORT, e.g. 0.0.0.0:8080')
      .default('0.0.0.0:8080'),
    token: z.string().min(1).optional(),
    // extension: at most this many sockets at once; more are closed at once (slow-loris, docs/security.md)
    maxConnections: z.number().int().min(1).max(10_000).default(HTTP_MAX_CONNECTIONS),
    // extension: a connection that has not sent its request's headers within this is closed
    headersTimeoutMs: z.number().int().min(1_000).default(HTTP_HEADERS_TIMEOUT_MS),
    // extension: a request (body included: a model upload) not received within this is answered 408 and closed
    requestTimeoutMs: z.number().int().min(1_000).default(HTTP_REQUEST_TIMEOUT_MS),
    // extension: an idle kept-alive connection is closed after this
    keepAliveTimeoutMs: z.number().int().min(100).default(HTTP_KEEP_ALIVE_TIMEOUT_MS),
    // extension: the largest file a model upload may carry (POST /api/model/install), in MiB
    maxUploadMB: z.number().positive().max(65_536).default(HTTP_MAX_UPLOAD_MB),
  })
  .refine((h) => h.headersTimeoutMs <= h.requestTimeoutMs, {
    message:
      'headersTimeoutMs must not be longer than requestTimeoutMs (the headers are part of the request)',
    path: ['headersTimeoutMs'],
  });

const providerSchema = z.enum(['tensorrt', 'cuda', 'cpu']);

const autoRollbackSchema = z.strictObject({
  enabled: z.boolean().default(true),
  windowMs: z.number().int().positive().default(600_000),
  minFrames: z.number().int().positive().default(20),
  maxErrorRateIncrease: z.number().min(0).max(1).default(0.1),
  maxMissRateIncrease: z.number().min(0).max(1).default(0.1),
  // throughput: triggers skipped because the camera was still busy, as a share of triggers
  maxSkipRateIncrease: z.number().min(0).max(1).default(0.2),
  // latency: the new version's p95 above the old p95 times this, and by at least minLatencyIncreaseMs
  maxLatencyRatio: z.number().min(1).default(3),
  minLatencyIncreaseMs: z.number().min(0).default(50),
  // a wrong model, not a failing one: the NG share moved by more than this (and by 3 standard errors)
  maxNgRateShift: z.number().min(0).max(1).default(0.2),
  // accuracy on plant outcomes below the old version's by more than this, with minOutcomes each
  maxAccuracyDrop: z.number().min(0).max(1).default(0.05),
  minOutcomes: z.number().int().min(1).default(20),
});

const promotionSchema = z.strictObject({
  // shadow frames (compared or failed) a candidate needs before a promotion by hand; 0 = no minimum
  minShadowFrames: z.number().int().min(0).default(0),
  // agreement with the active version, the shadow's errors counted as disagreement
  minAgreement: z.number().min(0).max(1).default(0.9),
  // the shadow's mean time per frame at most this many times the active version's ...
  maxLatencyRatio: z.number().min(1).default(3),
  // ... and at most this many ms (none: no absolute limit)
  maxShadowMs: z.number().positive().optional(),
  // share of offered frames skipped because the shadow was still busy
  maxSkippedShare: z.number().min(0).max(1).default(0.5),
  // accuracy on plant outcomes (same frames, both versions) no worse than the active's less this
  maxAccuracyDrop: z.number().min(0).max(1).default(0),
  minOutcomes: z.number().int().min(1).default(20),
});

const modelSchema = z.strictObject({
  id: identifier,
  path: z.string().min(1),
  // extension: the manifest's path when it is not manifest.yaml/.json beside the model
  manifest: z.string().min(1).optional(),
  providers: z.array(providerSchema).min(1).default(['cpu']),
  // extension: inference worker threads for this model
  workers: z.number().int().min(1).max(16).default(1),
  // extension: onnxruntime intra-op threads per worker (0 = onnxruntime's default)
  intraOpThreads: z.number().int().min(0).default(0),
  // extension: where installed versions and the active-version record live (default: <store dir>/models/<id>)
  versionsDir: z.string().min(1).optional(),
  // extension: a folder watched for new version folders (model.onnx + manifest + golden images)
  inbox: z.string().min(1).optional(),
  // extension: how often the inbox is scanned; a folder is installed once unchanged for one scan
  inboxPollMs: z.number().int().min(100).default(2_000),
  // extension: how often the running version's file is checked for a change on disk (MODEL_FILE_CHANGED)
  fileCheckMs: z.number().int().min(1_000).default(MODEL_FILE_CHECK_MS),
  // extension: TensorRT engine cache (EP-context dumps); none = rebuilt at every load
  engineCacheDir: z.string().min(1).optional(),
  // extension: roll back automatically when errors or deadline misses jump after a promotion
  autoRollback: autoRollbackSchema.default(autoRollbackSchema.parse({})),
  // extension: what a candidate must show in shadow before `model/promote` (unless force: true)
  promotion: promotionSchema.default(promotionSchema.parse({})),
  // extension: the version a promotion replaced stays installed (rollback one request away) this long
  keepPreviousDays: z.number().min(0).default(14),
  // extension: the shadow's inference time as a share of the active version's, over time
  shadowBudget: z.number().min(0.05).max(10).default(1),
  // extension: installs must carry the model file's sha256 in their manifest / at least one golden image
  requireSha256: z.boolean().default(false),
  requireGolden: z.boolean().default(false),
});

const folderSource = z.strictObject({
  type: z.literal('folder'),
  path: z.string().min(1),
  loop: z.boolean().default(false),
  // extension: how often the folder is scanned for new files
  pollMs: z.number().int().positive().default(250),
  // extension: a file is judged once its size and mtime held still this long (and, for JPEG and PNG, its
  // end marker is there): a half-written upload is never judged (docs/capture.md)
  settleMs: z.number().int().min(0).default(FOLDER_SETTLE_MS),
  // extension: a JPEG/PNG still without its end marker, or an empty file, is judged as it is (ERROR) once
  // unchanged this long
  incompleteMs: z.number().int().min(1_000).default(FOLDER_INCOMPLETE_MS),
  // extension: a larger file is not read; its part is ERROR
  maxFileMB: z.number().positive().max(1024).default(FOLDER_MAX_FILE_MB),
});

const syntheticSource = z.strictObject({
  type: z.literal('synthetic'),
  width: z.number().int().min(8).max(8192).default(640),
  height: z.number().int().min(8).max(8192).default(480),
  // extension: frames per second the synthetic camera produces
  fps: z.number().positive().max(1000).default(30),
});

// stream sources are watched: no frame for noFrameTimeoutMs restarts them with backoff
const watched = {
  noFrameTimeoutMs: z.number().int().min(1_000).default(NO_FRAME_TIMEOUT_MS),
};
const credentials = {
  username: z.string().optional(),
  password: z.string().optional(),
};
const ffmpegPath = z.string().min(1).default(FFMPEG_PATH);
const scale = z.strictObject({
  width: z.number().int().min(8).max(8192),
  height: z.number().int().min(8).max(8192),
});

const httpSource = z.strictObject({
  type: z.literal('http'),
  url: z.string().regex(/^https?:\/\//, 'must be an http:// or https:// URL'),
  ...credentials,
  timeoutMs: z.number().int().positive().default(SNAPSHOT_TIMEOUT_MS),
});

const mjpegSource = z.strictObject({
  type: z.literal('mjpeg'),
  url: z.string().regex(/^https?:\/\//, 'must be an http:// or https:// URL'),
  ...credentials,
  ...watched,
});

const rtspSource = z.strictObject({
  type: z.literal('rtsp'),
  url: z.string().regex(/^rtsps?:\/\//, 'must be an rtsp:// URL'),
  transport: z.enum(['tcp', 'udp']).default(RTSP_TRANSPORT),
  // extension: have ffmpeg scale frames down before they reach the agent (saves copies and CPU)
  scale: scale.optional(),
  ffmpegPath,
  ...watched,
});

const v4l2Source = z.strictObject({
  type: z.literal('v4l2'),
  device: z.string().min(1),
  width: z.number().int().min(8).max(8192).optional(),
  height: z.number().int().min(8).max(8192).optional(),
  fps: z.number().positive().max(1000).optional(),
  scale: scale.optional(),
  ffmpegPath,
  ...watched,
});

const sourceSchema = z.discriminatedUnion('type', [
  folderSource,
  syntheticSource,
  httpSource,
  mjpegSource,
  rtspSource,
  v4l2Source,
]);

const triggerSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('interval'), fps: z.number().positive().max(1000) }),
  z.strictObject({ type: z.literal('continuous') }),
  z.strictObject({ type: z.literal('mqtt') }),
  z.strictObject({ type: z.literal('http') }),
  // extension: a PLC's part-present input or trigger counter (the camera's `plc` block says where)
  z.strictObject({ type: z.literal('plc') }),
]);

const cameraSchema = z.strictObject({
  id: identifier,
  enabled: z.boolean().default(true),
  source: sourceSchema,
  trigger: triggerSchema,
  model: identifier,
  deadlineMs: z.number().int().positive().default(1000),
  rules: rulesSchema.default(rulesSchema.parse({})),
  // extension: Modbus TCP handshake with the line's PLC (docs/plc.md)
  plc: plcConfigSchema.optional(),
});

export const configSchema = z.strictObject({
  agent: agentSchema,
  store: storeSchema.default(storeSchema.parse({})),
  mqtt: mqttSchema.default(mqttSchema.parse({})),
  health: healthSchema.default(healthSchema.parse({})),
  models: z.array(modelSchema).min(1),
  cameras: z.array(cameraSchema).min(1),
  drift: driftSchema.optional(),
  // product changeover (docs/recipes.md): each recipe overrides, per camera, the keys it names
  recipes: z.array(recipeSchema).default([]),
  // the recipe at first start (default: the first listed); the last one selected survives restarts
  activeRecipe: identifier.optional(),
  // the OPC 40100 Machine Vision server (docs/opcua.md)
  opcua: opcuaSchema.default(opcuaSchema.parse({})),
});

export type AgentConfig = z.output<typeof configSchema>;
export type ModelConfig = AgentConfig['models'][number];
export type CameraConfig = AgentConfig['cameras'][number];
export type SourceConfig = CameraConfig['source'];
export type TriggerConfig = CameraConfig['trigger'];
export type RulesConfig = CameraConfig['rules'];
export type ProviderName = z.output<typeof providerSchema>;
export type DriftConfig = NonNullable<AgentConfig['drift']>;
export type RecipeConfig = AgentConfig['recipes'][number];
export type RecipeCameraConfig = RecipeConfig['cameras'][string];
export type OpcUaConfig = AgentConfig['opcua'];

/** The schema as JSON Schema, for editors (`edge-agent config schema`). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' });
}
