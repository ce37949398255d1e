import { z } from 'zod';

/**
 * A drift window report (CONTRACT section 3, `R/drift/<cameraId>`), as one schema: the TypeScript type is
 * inferred from it and docs/drift-report.schema.json is generated from it (test/unit/drift/report-schema
 * keeps the file in step). Fields beyond the contract's example are additions, never renames.
 */

const num = z.number();
const count = z.number().int().min(0);

const statisticSchema = z.strictObject({
  name: z.string().describe('statistic (brightness, sharpness, topScore, ..., classMix, ngRate)'),
  group: z.enum(['input', 'output', 'ngRate', 'latency']).describe('input, output and ngRate raise alerts'),
  value: num.nullable().describe("this window's mean (classMix: the share of `detail`; ngRate: the NG rate)"),
  reference: num.nullable().describe("the baseline's mean (or share, or NG rate)"),
  test: z.enum(['psi', 'ks', 'wasserstein', 'ewma', 'cusum', 'chi2', 'p-chart']),
  score: num.describe("the test's statistic for this window"),
  threshold: num.describe('calibrated from the baseline and drift.falseAlarmEvery (docs/drift.md)'),
  breach: z.boolean(),
  detail: z.string().optional().describe('classMix: the class whose share moved most'),
  rules: z
    .array(z.string())
    .optional()
    .describe('ngRate p-chart: the Western Electric rules the window breaks'),
});

const confusionRow = z.strictObject({ OK: count, NG: count, UNCERTAIN: count, ERROR: count });

const outcomesSchema = z.strictObject({
  count,
  accuracy: num.nullable(),
  precisionNg: num.nullable(),
  recallNg: num.nullable(),
  confusion: z
    .strictObject({ OK: confusionRow, NG: confusionRow })
    .describe("rows: the plant's finding; columns: the agent's verdict"),
  pooled: z
    .strictObject({ count, accuracy: num, floor: num.nullable(), breach: z.boolean() })
    .optional()
    .describe('the latest windows pooled until drift.minOutcomes outcomes: what ACCURACY_BELOW_FLOOR judges'),
});

export const driftReportSchema = z.strictObject({
  schema: z.literal(1),
  agentId: z.string(),
  cameraId: z.string(),
  ts: z.number().int().describe('epoch ms when the report was made'),
  model: z.strictObject({ id: z.string(), version: z.string(), sha256: z.string() }),
  baseline: z
    .strictObject({
      id: z.string(),
      builtAt: z.number().int(),
      frames: count,
      source: z.enum(['folder', 'live']).optional(),
    })
    .nullable()
    .describe('null: no baseline for this model (status no-baseline)'),
  window: z.strictObject({
    index: count,
    count: count.describe('decisions with a model output in the window'),
    from: z.number().int(),
    to: z.number().int(),
  }),
  status: z.enum(['ok', 'warning', 'drift', 'insufficient', 'no-baseline']),
  statistics: z.array(statisticSchema),
  outcomes: outcomesSchema.optional().describe('present when the plant sent outcomes in the window'),
  alerts: z.array(z.string()).describe('codes active for this camera'),
  means: z
    .record(z.string(), num.nullable())
    .optional()
    .describe("every statistic's window mean, with or without a baseline (for charts)"),
  unfitFrames: count.optional().describe('frames judged unfit (blur, exposure) in the window'),
  calibration: z
    .strictObject({
      windowSeconds: num,
      windowsPerPeriod: num,
      pDistribution: num,
      chartArl: num,
    })
    .optional()
    .describe('the false-alarm budget the thresholds were set for (docs/drift.md)'),
});

export type DriftReport = z.output<typeof driftReportSchema>;
export type StatisticRow = DriftReport['statistics'][number];
export type ReportStatus = DriftReport['status'];
export type OutcomesSummary = NonNullable<DriftReport['outcomes']>;

/** The JSON Schema published in docs/drift-report.schema.json. */
export function driftReportJsonSchema(): unknown {
  return {
    $id: 'https://edge-vision-agent/docs/drift-report.schema.json',
    title: 'edge-vision-agent drift window report (R/drift/<cameraId>)',
    ...(z.toJSONSchema(driftReportSchema, { target: 'draft-2020-12' }) as Record<string, unknown>),
  };
}
