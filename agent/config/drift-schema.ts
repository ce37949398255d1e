import { validate as validCron } from 'node-cron';
import { z } from 'zod';

/** The `drift:` section of agent.yaml (docs/drift.md), and the durations it is written in. */

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
export const driftSchema = z
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
