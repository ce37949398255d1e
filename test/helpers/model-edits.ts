import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { parse, stringify } from 'yaml';
import { REPO, tempDir } from './agent-process.js';

const { onnx } = onnxProto;

/**
 * The shipped washer network with its class outputs permuted by a graph edit (not a manifest label swap):
 * the Softmax output is renamed and a Gather over the class axis puts `perm[i]` at position i, so the file
 * is a different model whose scores are the washer's, reordered. With the default [2, 1, 0] an ok part
 * scores as dent and a dent as ok: the candidate the plant saw promoted at 13 % agreement. The manifest
 * is the washer's without golden images (a candidate that brought none) and with the new file's sha256.
 */
export function labelSwappedWasherVersion(
  version: string,
  perm: [number, number, number] = [2, 1, 0],
): string {
  const model = onnx.ModelProto.decode(readFileSync(join(REPO, 'models/washer/model.onnx')));
  const graph = model.graph as onnxProto.onnx.GraphProto;
  const last = graph.node.find((n) => n.output?.includes('scores'));
  if (!last) throw new Error('washer model: no node writes "scores"');
  last.output = (last.output ?? []).map((o) => (o === 'scores' ? 'scores_unswapped' : o));
  graph.initializer.push(
    onnx.TensorProto.fromObject({ name: 'swap_index', dataType: 7, dims: [3], int64Data: perm }),
  );
  graph.node.push(
    onnx.NodeProto.fromObject({
      opType: 'Gather',
      input: ['scores_unswapped', 'swap_index'],
      output: ['scores'],
      attribute: [{ name: 'axis', type: 2, i: 1 }],
    }),
  );
  const bytes = onnx.ModelProto.encode(model).finish();
  const dir = join(tempDir('eva-version-'), `washer-swapped-${version}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), bytes);
  const manifest = parse(readFileSync(join(REPO, 'models/washer/manifest.yaml'), 'utf8')) as Record<
    string,
    unknown
  >;
  manifest.version = version;
  manifest.sha256 = createHash('sha256').update(bytes).digest('hex');
  manifest.golden = [];
  manifest.description = `washer with its class outputs permuted ${JSON.stringify(perm)} (test candidate)`;
  writeFileSync(join(dir, 'manifest.yaml'), stringify(manifest));
  return dir;
}
