import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AgentError, ErrorCodes } from '../errors.js';
import { READ_LIMITS, ReadLimitError, readFileLimited, readTextLimited } from '../read-limited.js';
import { resolveManifest } from './manifest-resolve.js';
import { type ModelManifest, manifestSchema, type RawManifest } from './manifest-schema.js';
import { type OnnxInfo, readOnnxInfo, readUltralyticsMeta } from './onnx-info.js';

/** Finding, reading and resolving a model's manifest (its schema and types: manifest-schema.ts). */

export interface LoadedManifest {
  manifest: ModelManifest;
  /** sha256 of the model file as read now (the manifest's value, when given, must equal it). */
  sha256: string;
  modelPath: string;
  /** the manifest file, or null when the model's own metadata was enough (Ultralytics exports) */
  manifestPath: string | null;
  /** Golden image paths resolved against the manifest's folder. */
  goldenPaths: string[];
  /** What the ONNX file itself says (graph inputs/outputs, opset, metadata_props, precision). */
  onnx: OnnxInfo;
}

export function findManifest(modelPath: string, explicit?: string): string | null {
  if (explicit) return explicit;
  const dir = dirname(modelPath);
  for (const name of ['manifest.yaml', 'manifest.yml', 'manifest.json']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** The manifest file's content, parsed as YAML or JSON (not yet validated). */
export function readRawManifest(manifestPath: string): unknown {
  try {
    const text = readTextLimited(manifestPath, READ_LIMITS.manifest, 'manifest');
    return manifestPath.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new AgentError(
      ErrorCodes.MODEL_MANIFEST,
      err instanceof ReadLimitError
        ? (err as Error).message
        : `cannot read manifest ${manifestPath}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

export function parseManifest(raw: unknown, where: string): RawManifest {
  const parsed = manifestSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const details = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new AgentError(ErrorCodes.MODEL_MANIFEST, `manifest ${where} is invalid: ${details}`);
  }
  return parsed.data;
}

/**
 * Reads the model file and its manifest, checks the file's sha256, decodes the ONNX header and resolves the
 * manifest against it. Every error names the model and the problem.
 */
export function loadManifest(modelPath: string, explicitManifest?: string): LoadedManifest {
  const manifestPath = findManifest(modelPath, explicitManifest);
  const raw = manifestPath ? parseManifest(readRawManifest(manifestPath), manifestPath) : undefined;
  let bytes: Buffer;
  try {
    // bounded: a path at a device (/dev/urandom) or a huge file is refused before a byte is read
    bytes = readFileLimited(modelPath, READ_LIMITS.model, 'model file');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    if (!raw && missing) {
      throw new AgentError(
        ErrorCodes.MODEL_MANIFEST,
        `no manifest.yaml or manifest.json beside ${modelPath}, and the model file is missing`,
        { cause: err },
      );
    }
    const message = missing ? `cannot read model file ${modelPath}: file not found` : (err as Error).message;
    throw new AgentError(ErrorCodes.MODEL_LOAD, message, { cause: err });
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (raw?.sha256 && raw.sha256 !== sha256) {
    throw new AgentError(
      ErrorCodes.MODEL_LOAD,
      `model file ${modelPath} does not match its manifest: sha256 ${sha256.slice(0, 12)}… expected ${raw.sha256.slice(0, 12)}…`,
    );
  }
  const onnx = readOnnxInfo(bytes, modelPath);
  if (!raw && !readUltralyticsMeta(onnx.metadata, onnx.outputs).task) {
    throw new AgentError(
      ErrorCodes.MODEL_MANIFEST,
      `no manifest.yaml or manifest.json beside ${modelPath}, and the model carries no Ultralytics metadata`,
    );
  }
  const dir = manifestPath ? dirname(manifestPath) : dirname(modelPath);
  const file = basename(modelPath).replace(/\.onnx$/i, '');
  const defaultId = file === 'model' ? basename(dirname(resolve(modelPath))) : file;
  const manifest = resolveManifest(raw ?? parseManifest({}, '(none)'), onnx, {
    defaultId,
    sha256,
    dir,
    modelPath,
  });
  return {
    manifest,
    sha256,
    modelPath: resolve(modelPath),
    manifestPath,
    goldenPaths: manifest.golden.map((g) => resolve(dir, g.image)),
    onnx,
  };
}
