import { z } from 'zod';

/**
 * A camera's rules (`cameras[].rules`) and what a recipe may override of them (`recipes[].cameras.<id>.rules`).
 * Both are built from one list of fields, so an override can name exactly the keys the rules have.
 */

const fields = {
  // classes that make a part NG; default: every label except "ok"
  ngClasses: z.array(z.string().min(1)).min(1),
  minScore: z.number().min(0).max(1),
  uncertainBelow: z.number().min(0).max(1),
  // extension: detection - boxes smaller than this many source pixels² are ignored (default 0)
  minBoxArea: z.number().min(0),
  // extension: detection - region of interest [x1, y1, x2, y2] in source pixels; a box centred outside is ignored
  roi: z
    .tuple([z.number(), z.number(), z.number(), z.number()])
    .refine(
      ([x1, y1, x2, y2]) => x2 > x1 && y2 > y1,
      'roi must be [x1, y1, x2, y2] with x2 > x1 and y2 > y1',
    ),
  // extension: anomaly - overrides the manifest's threshold on the normalised score
  anomalyThreshold: z.number().min(0).max(1),
  // extension: anomaly - scores from here up to the threshold are UNCERTAIN (no band when unset)
  anomalyUncertainBelow: z.number().min(0).max(1),
};

export const rulesSchema = z.strictObject({
  ngClasses: fields.ngClasses.optional(),
  minScore: fields.minScore.default(0.5),
  uncertainBelow: fields.uncertainBelow.default(0.2),
  minBoxArea: fields.minBoxArea.optional(),
  roi: fields.roi.optional(),
  anomalyThreshold: fields.anomalyThreshold.optional(),
  anomalyUncertainBelow: fields.anomalyUncertainBelow.optional(),
});

/** A recipe's rules: only the keys it names replace the camera's (no defaults, so nothing else changes). */
export const rulesOverrideSchema = z.strictObject({
  ngClasses: fields.ngClasses.optional(),
  minScore: fields.minScore.optional(),
  uncertainBelow: fields.uncertainBelow.optional(),
  minBoxArea: fields.minBoxArea.optional(),
  roi: fields.roi.optional(),
  anomalyThreshold: fields.anomalyThreshold.optional(),
  anomalyUncertainBelow: fields.anomalyUncertainBelow.optional(),
});
