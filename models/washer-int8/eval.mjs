// Held-out accuracy of the washer classifier variants in onnxruntime-node (the runtime the agent uses).
//   /usr/bin/python3 models/washer-int8/quantize.py   # writes /tmp/washer-heldout.bin
//   node models/washer-int8/eval.mjs [/tmp/washer-heldout.bin]
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const buf = readFileSync(process.argv[2] ?? '/tmp/washer-heldout.bin');
const [n, h, w] = new Int32Array(buf.buffer, buf.byteOffset, 3);
const labels = new Int32Array(buf.buffer.slice(buf.byteOffset + 12, buf.byteOffset + 12 + 4 * n));
const pixels = new Uint8Array(buf.buffer, buf.byteOffset + 12 + 4 * n, n * h * w * 3);
const models = {
  fp32: new URL('../washer/model.onnx', import.meta.url),
  fp16: new URL('../washer-fp16/model.onnx', import.meta.url),
  int8: new URL('./model.onnx', import.meta.url),
};
const ref = [];
for (const [name, url] of Object.entries(models)) {
  const session = await ort.InferenceSession.create(url.pathname, { executionProviders: ['cpu'] });
  const cm = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  let agree = 0;
  let maxDiff = 0;
  for (let i = 0; i < n; i++) {
    const x = new Float32Array(3 * h * w);
    for (let p = 0; p < h * w; p++) {
      for (let c = 0; c < 3; c++) x[c * h * w + p] = (pixels[(i * h * w + p) * 3 + c] / 255 - MEAN[c]) / STD[c];
    }
    const out = await session.run({ input: new ort.Tensor('float32', x, [1, 3, h, w]) });
    const s = out.scores.data;
    const pred = s.indexOf(Math.max(...s));
    cm[labels[i] * 3 + pred]++;
    if (name === 'fp32') ref.push({ pred, s: [...s] });
    else {
      agree += ref[i].pred === pred ? 1 : 0;
      maxDiff = Math.max(maxDiff, ...[...s].map((v, k) => Math.abs(v - ref[i].s[k])));
    }
  }
  const acc = (cm[0] + cm[4] + cm[8]) / n;
  const extra = name === 'fp32' ? '' : ` agreement with fp32 ${(agree / n).toFixed(4)} max |score diff| ${maxDiff.toFixed(4)}`;
  console.log(`${name} accuracy ${acc.toFixed(4)} on ${n} confusion ${JSON.stringify(cm)}${extra}`);
}
