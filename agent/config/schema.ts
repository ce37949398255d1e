import { validate as validCron } from 'node-cron';
import { z } from 'zod';
import { plcConfigSchema } from './plc-schema.js';

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
/** Reconnect backoff bounds (exponential, jittered). */
export const MQTT_RECONNECT_MIN_MS = 1_000;
export const MQTT_RECONNECT_MAX_MS = 30_000;
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

const storeSchema = z.strictObject({
  path: z.string().min(1).default('./data/agent.db'),
  // extension: when not set, images live beside the database (`<dir of path>/images`, ./data/images for the
  // default path), so an agent given only `path` never writes images into its working directory
  imagesDir: z.string().min(1).optional(),
  maxDiskMB: z.number().int().positive().default(2048),
  retentionDays: z.number().positive().default(30),
  keepOkImageEvery: z.number().int().min(0).default(50),
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
  topicRoot: z.string().min(1).optional(),
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
  // extension: reconnect backoff bounds (exponential, jittered)
  reconnectMinMs: z.number().int().positive().default(MQTT_RECONNECT_MIN_MS),
  reconnectMaxMs: z.number().int().positive().default(MQTT_RECONNECT_MAX_MS),
});

const healthSchema = z.strictObject({
  listen: z
    .string()
    .regex(/^[^\s:]*:\d{1,5}$/, 'must be HOST:PORT, e.g. 0.0.0.0:8080')
    .default('0.0.0.0:8080'),
  token: z.string().min(1).optional(),
});

const providerSchema = z.enum(['tensorrt', 'cuda', 'cpu']);

const autoRollbackSchema = z.strictObject({
  enabled: z.boolean().default(true),
  windowMs: z.number().int().positive().default(600_000),
  minFrames: z.number().int().positive().default(20),
  maxErrorRateIncrease: z.number().min(0).max(1).default(0.1),
  maxMissRateIncrease: z.number().min(0).max(1).default(0.1),
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
  // extension: TensorRT engine cache (EP-context dumps); none = rebuilt at every load
  engineCacheDir: z.string().min(1).optional(),
  // extension: roll back automatically when errors or deadline misses jump after a promotion
  autoRollback: autoRollbackSchema.default(autoRollbackSchema.parse({})),
});

const folderSource = z.strictObject({
  type: z.literal('folder'),
  path: z.string().min(1),
  loop: z.boolean().default(false),
  // extension: how often the folder is scanned for new files
  pollMs: z.number().int().positive().default(250),
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

const rulesSchema = z.strictObject({
  // classes that make a part NG; default: every label except "ok"
  ngClasses: z.array(z.string().min(1)).min(1).optional(),
  minScore: z.number().min(0).max(1).default(0.5),
  uncertainBelow: z.number().min(0).max(1).default(0.2),
  // extension: detection - boxes smaller than this many source pixels² are ignored (default 0)
  minBoxArea: z.number().min(0).optional(),
  // extension: detection - region of interest [x1, y1, x2, y2] in source pixels; a box centred outside is ignored
  roi: z
    .tuple([z.number(), z.number(), z.number(), z.number()])
    .refine(([x1, y1, x2, y2]) => x2 > x1 && y2 > y1, 'roi must be [x1, y1, x2, y2] with x2 > x1 and y2 > y1')
    .optional(),
  // extension: anomaly - overrides the manifest's threshold on the normalised score
  anomalyThreshold: z.number().min(0).max(1).optional(),
  // extension: anomaly - scores from here up to the threshold are UNCERTAIN (no band when unset)
  anomalyUncertainBelow: z.number().min(0).max(1).optional(),
});

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

const DURATION_UNITS_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** `30d`, `12h`, `90m`, `1w`, `45s` -> milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * DURATION_UNITS_MS[m[2] as keyof typeof DURATION_UNITS_MS];
  return ms > 0 ? ms : undefined;
}

const duration = z
  .string()
  .refine((v) => parseDuration(v) !== undefined, 'must be a duration like 30d, 12h, 90m or 1w')
  .transform((v) => parseDuration(v) as number);

// docs/drift.md
const driftSchema = z
  .strictObject({
    // when the latest window report is republished (node-cron; it is also published at each window's end)
    schedule: z
      .string()
      .min(1)
      .refine((v) => validCron(v), 'must be a cron expression node-cron accepts, e.g. "*/1 * * * *"')
      .default('*/1 * * * *'),
    window: z.number().int().min(10).max(100_000).default(500),
    falseAlarmEvery: duration.default(parseDuration('30d') as number),
    // no floor set: accuracy on outcomes is reported, never alerted on
    accuracyFloor: z.number().gt(0).max(1).optional(),
    gate: z.boolean().default(false),
    // extension: a window also closes this long after its first decision (a slow line still gets reports)
    maxWindowSeconds: z.number().int().min(10).default(3_600),
    // extension: a window with fewer decisions than this is reported `insufficient`, not judged
    minDecisions: z.number().int().min(2).default(30),
    // extension: ACCURACY_BELOW_FLOOR needs at least this many outcomes (the latest windows pooled)
    minOutcomes: z.number().int().min(1).default(30),
    // extension: decisions a `drift/baseline` request collects when it names none
    baselineDecisions: z.number().int().min(20).max(20_000).default(2_000),
  })
  .refine((d) => d.minDecisions <= d.window, {
    message: 'drift.minDecisions must not exceed drift.window',
    path: ['minDecisions'],
  });

/** The drift settings an agent.yaml without a `drift` section would get (the CLI builds baselines with them). */
export function defaultDriftConfig(): z.output<typeof driftSchema> {
  return driftSchema.parse({});
}

export const configSchema = z.strictObject({
  agent: agentSchema,
  store: storeSchema.default(storeSchema.parse({})),
  mqtt: mqttSchema.default(mqttSchema.parse({})),
  health: healthSchema.default(healthSchema.parse({})),
  models: z.array(modelSchema).min(1),
  cameras: z.array(cameraSchema).min(1),
  drift: driftSchema.optional(),
});

export type AgentConfig = z.output<typeof configSchema>;
export type ModelConfig = AgentConfig['models'][number];
export type CameraConfig = AgentConfig['cameras'][number];
export type SourceConfig = CameraConfig['source'];
export type TriggerConfig = CameraConfig['trigger'];
export type RulesConfig = CameraConfig['rules'];
export type ProviderName = z.output<typeof providerSchema>;
export type DriftConfig = NonNullable<AgentConfig['drift']>;

/** The schema as JSON Schema, for editors (`edge-agent config schema`). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' });
}
