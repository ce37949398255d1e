import ort from 'onnxruntime-node';
import { describeError } from './errors.js';
import { loadManifest } from './inference/index.js';

/** `edge-agent model inspect FILE.onnx`: what the model takes and gives, and the manifest the agent would use. */
export async function inspectModel(path: string, json: boolean): Promise<number> {
  try {
    const session = await ort.InferenceSession.create(path);
    const io = {
      inputs: session.inputMetadata.map((m) => ({ name: m.name, ...describeMeta(m) })),
      outputs: session.outputMetadata.map((m) => ({ name: m.name, ...describeMeta(m) })),
    };
    await session.release();
    let manifest: unknown = null;
    let manifestError: string | null = null;
    try {
      const loaded = loadManifest(path);
      manifest = { path: loaded.manifestPath, sha256: loaded.sha256, ...loaded.manifest };
    } catch (err) {
      manifestError = describeError(err);
    }
    const report = { file: path, ...io, manifest, manifestError };
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`cannot inspect ${path}: ${describeError(err)}\n`);
    return 1;
  }
}

function describeMeta(m: ort.InferenceSession.ValueMetadata): { type: string; shape: (number | string)[] } {
  return m.isTensor ? { type: m.type, shape: [...m.shape] } : { type: 'non-tensor', shape: [] };
}

function formatReport(r: {
  file: string;
  inputs: { name: string; type: string; shape: (number | string)[] }[];
  outputs: { name: string; type: string; shape: (number | string)[] }[];
  manifest: unknown;
  manifestError: string | null;
}): string {
  const lines = [`model ${r.file}`];
  for (const i of r.inputs) lines.push(`  input  ${i.name}: ${i.type} [${i.shape.join(', ')}]`);
  for (const o of r.outputs) lines.push(`  output ${o.name}: ${o.type} [${o.shape.join(', ')}]`);
  lines.push(
    r.manifest ? `manifest:\n${JSON.stringify(r.manifest, null, 2)}` : `manifest: none (${r.manifestError})`,
  );
  return lines.join('\n');
}
