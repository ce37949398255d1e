import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AgentError, ErrorCodes } from '../errors.js';

/**
 * The manifest beside each model says how to feed it and how to read it. One schema, types inferred.
 * The classification subset is what this version runs; detection and anomaly arrive with their decoders.
 */
const inputSchema = z.strictObject({
  name: z.string().min(1),
  dtype: z.enum(['float32', 'uint8']).default('float32'),
  layout: z.enum(['NCHW', 'NHWC']).default('NCHW'),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  colorOrder: z.enum(['RGB', 'BGR']).default('RGB'),
  resize: z.enum(['stretch']).default('stretch'),
  // x' = (x * scale - mean[c]) / std[c]
  scale: z
    .number()
    .positive()
    .default(1 / 255),
  mean: z.tuple([z.number(), z.number(), z.number()]).default([0, 0, 0]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).default([1, 1, 1]),
});

const outputSchema = z.strictObject({
  name: z.string().min(1),
  role: z.enum(['scores']),
  activation: z.enum(['none', 'softmax', 'sigmoid']).default('none'),
});

const goldenSchema = z.strictObject({
  image: z.string().min(1),
  expect: z.strictObject({ label: z.string().min(1), minScore: z.number().min(0).max(1).default(0.5) }),
});

export const manifestSchema = z.looseObject({
  schema: z.literal(1).default(1),
  id: z.string().min(1),
  version: z.coerce.string(),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  task: z.enum(['classification']),
  description: z.string().optional(),
  input: inputSchema,
  outputs: z.array(outputSchema).length(1),
  labels: z.array(z.string().min(1)).min(1),
  golden: z.array(goldenSchema).default([]),
});

export type ModelManifest = z.output<typeof manifestSchema>;

export interface LoadedManifest {
  manifest: ModelManifest;
  /** sha256 of the model file as read now (the manifest's value, when given, must equal it). */
  sha256: string;
  modelPath: string;
  manifestPath: string;
  /** Golden image paths resolved against the manifest's folder. */
  goldenPaths: string[];
}

export function findManifest(modelPath: string, explicit?: string): string {
  if (explicit) return explicit;
  const dir = dirname(modelPath);
  for (const name of ['manifest.yaml', 'manifest.yml', 'manifest.json']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  throw new AgentError(ErrorCodes.MODEL_MANIFEST, `no manifest.yaml or manifest.json beside ${modelPath}`);
}

/** Reads the model file and its manifest; checks the manifest and the file's sha256. */
export function loadManifest(modelPath: string, explicitManifest?: string): LoadedManifest {
  const manifestPath = findManifest(modelPath, explicitManifest);
  let raw: unknown;
  try {
    const text = readFileSync(manifestPath, 'utf8');
    raw = manifestPath.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new AgentError(
      ErrorCodes.MODEL_MANIFEST,
      `cannot read manifest ${manifestPath}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const details = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new AgentError(ErrorCodes.MODEL_MANIFEST, `manifest ${manifestPath} is invalid: ${details}`);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(modelPath);
  } catch (err) {
    throw new AgentError(
      ErrorCodes.MODEL_LOAD,
      `cannot read model file ${modelPath}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const manifest = parsed.data;
  if (manifest.sha256 && manifest.sha256 !== sha256) {
    throw new AgentError(
      ErrorCodes.MODEL_LOAD,
      `model file ${modelPath} does not match its manifest: sha256 ${sha256.slice(0, 12)}… expected ${manifest.sha256.slice(0, 12)}…`,
    );
  }
  const dir = dirname(manifestPath);
  return {
    manifest,
    sha256,
    modelPath: resolve(modelPath),
    manifestPath,
    goldenPaths: manifest.golden.map((g) => resolve(dir, g.image)),
  };
}
