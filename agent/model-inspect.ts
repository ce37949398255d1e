import { createHash } from 'node:crypto';
import ort from 'onnxruntime-node';
import type { CliCommand } from './cli/index.js';
import { describeError } from './errors.js';
import {
  loadManifest,
  type ModelManifest,
  type OnnxInfo,
  readOnnxInfo,
  readUltralyticsMeta,
} from './inference/index.js';
import { READ_LIMITS, readFileLimited } from './read-limited.js';

interface Report {
  file: string;
  sha256: string;
  opset: number;
  producer: string;
  precision: OnnxInfo['precision'];
  inputs: OnnxInfo['inputs'];
  outputs: OnnxInfo['outputs'];
  metadata: Record<string, string>;
  ultralytics: ReturnType<typeof readUltralyticsMeta> | null;
  manifestPath: string | null;
  manifest: unknown;
  manifestError: string | null;
}

/**
 * `edge-agent model inspect FILE.onnx [--json]`: what the model takes and gives, its opset, precision and
 * metadata, and the manifest the agent would run it with (the file's, filled from the model). Exit 0 when
 * the agent could run the model as it stands; 1 when the file is unreadable, not ONNX, refused by
 * onnxruntime, or its manifest does not fit it (the report still says everything it could).
 */
export async function inspectModel(path: string, json: boolean): Promise<number> {
  let report: Report;
  try {
    const bytes = readFileLimited(path, READ_LIMITS.model, 'model file');
    const info = readOnnxInfo(bytes, path);
    // the decoded graph is not proof onnxruntime accepts it (unknown ops, bad opset): load it once
    const session = await ort.InferenceSession.create(bytes);
    await session.release();
    const ultra = readUltralyticsMeta(info.metadata, info.outputs);
    report = {
      file: path,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      opset: info.opset,
      producer: info.producer,
      precision: info.precision,
      inputs: info.inputs,
      outputs: info.outputs,
      metadata: info.metadata,
      ultralytics: Object.keys(ultra).length > 0 ? ultra : null,
      manifestPath: null,
      manifest: null,
      manifestError: null,
    };
  } catch (err) {
    process.stderr.write(`cannot inspect ${path}: ${describeError(err)}\n`);
    return 1;
  }
  try {
    const loaded = loadManifest(path);
    report.manifestPath = loaded.manifestPath;
    report.manifest = manifestView(loaded.manifest);
  } catch (err) {
    report.manifestError = describeError(err);
  }
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
  return report.manifestError ? 1 : 0;
}

/** The resolved manifest in reading order, without the options of tasks the model does not do. */
function manifestView(m: ModelManifest): Record<string, unknown> {
  return {
    schema: m.schema,
    id: m.id,
    version: m.version,
    ...(m.sha256 ? { sha256: m.sha256 } : {}),
    task: m.task,
    ...(m.description ? { description: m.description } : {}),
    input: m.input,
    outputs: m.outputs,
    labels: m.labels,
    ...(m.task === 'detection' ? { detection: m.detection } : {}),
    ...(m.task === 'anomaly' ? { anomaly: m.anomaly } : {}),
    ...(m.anomalyNormalization ? { anomalyNormalization: m.anomalyNormalization } : {}),
    golden: m.golden,
  };
}

function formatReport(r: Report): string {
  const lines = [
    `model ${r.file}`,
    `  sha256    ${r.sha256}`,
    `  opset     ${r.opset}${r.producer ? ` (${r.producer})` : ''}`,
    `  precision ${r.precision}`,
  ];
  for (const i of r.inputs) lines.push(`  input  ${i.name}: ${i.type} [${i.shape.join(', ')}]`);
  for (const o of r.outputs) lines.push(`  output ${o.name}: ${o.type} [${o.shape.join(', ')}]`);
  const meta = Object.entries(r.metadata);
  if (meta.length > 0) {
    lines.push('metadata:');
    for (const [k, v] of meta) lines.push(`  ${k}: ${v.length > 120 ? `${v.slice(0, 117)}...` : v}`);
  }
  if (r.manifest) {
    lines.push(
      `manifest (${r.manifestPath ?? 'from the model metadata'}, as the agent resolves it):`,
      JSON.stringify(r.manifest, null, 2),
    );
  } else {
    lines.push(`manifest: not usable: ${r.manifestError}`);
  }
  return lines.join('\n');
}

/** `edge-agent model inspect FILE.onnx [--json]` (CONTRACT section 1). */
export const modelInspectCommand: CliCommand = {
  name: 'model inspect',
  summary: 'print inputs, outputs, opset, precision, metadata and the manifest the agent would use',
  define: (c) => c.argument('<file>', 'the .onnx file').option('--json', 'print the report as JSON'),
  run: ({ args, opts }) => inspectModel(args[0] as string, opts.json === true),
};
