// Runs a detection or anomaly model's golden images through onnxruntime-node (the agent's runtime) and compares
// with its manifest: a check that the exported graph gives what the training script saw in torch.
//   node models/check_golden.mjs models/washer-det      (or models/washer-anomaly)
// Preprocessing mirrors the manifest: letterbox (pad 114, centred) or stretch, RGB, x/255, NCHW float32.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { parse } from 'yaml';

const dir = process.argv[2];
const m = parse(readFileSync(join(dir, 'manifest.yaml'), 'utf8'));
const { width: W, height: H } = m.input;
const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));

async function tensor(file) {
  const img = sharp(join(dir, file));
  const { width, height } = await img.metadata();
  let rgb;
  let r = 1;
  let px = 0;
  let py = 0;
  if (m.input.resize === 'letterbox') {
    r = Math.min(W / width, H / height);
    const nw = Math.round(width * r);
    const nh = Math.round(height * r);
    px = Math.round((W - nw) / 2 - 0.1);
    py = Math.round((H - nh) / 2 - 0.1);
    const pad = m.input.padValue ?? 114;
    rgb = await img
      .resize(nw, nh, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false })
      .extend({ top: py, bottom: H - nh - py, left: px, right: W - nw - px, background: { r: pad, g: pad, b: pad } })
      .removeAlpha()
      .raw()
      .toBuffer();
  } else {
    rgb = await img.resize(W, H, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false }).removeAlpha().raw().toBuffer();
  }
  const x = new Float32Array(3 * W * H);
  for (let p = 0; p < W * H; p++) for (let c = 0; c < 3; c++) x[c * W * H + p] = rgb[p * 3 + c] / 255;
  return { t: new ort.Tensor('float32', x, [1, 3, H, W]), r, px, py };
}

const iou = (a, b) => {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const i = iw * ih;
  return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i);
};

function yolov8(out, dims, conf, iouT) {
  const [, rows, n] = dims;
  const dets = [];
  for (let c = 0; c < rows - 4; c++) {
    const cand = [];
    for (let k = 0; k < n; k++) if (out[(4 + c) * n + k] >= conf) cand.push(k);
    cand.sort((a, b) => out[(4 + c) * n + b] - out[(4 + c) * n + a]);
    const kept = [];
    for (const k of cand) {
      const [cx, cy, w, h] = [0, 1, 2, 3].map((j) => out[j * n + k]);
      const b = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
      if (kept.every((o) => iou(o, b) <= iouT)) {
        kept.push(b);
        dets.push({ c, score: out[(4 + c) * n + k], b });
      }
    }
  }
  return dets;
}

let failures = 0;
for (const g of m.golden) {
  const { t, r, px, py } = await tensor(g.image);
  const out = await session.run({ [m.input.name]: t });
  if (m.task === 'detection') {
    const o = out.output0;
    const dets = yolov8(o.data, o.dims, m.detection.confidence, m.detection.iou).map((d) => ({
      label: m.labels[d.c],
      score: d.score,
      box: [(d.b[0] - px) / r, (d.b[1] - py) / r, (d.b[2] - px) / r, (d.b[3] - py) / r],
    }));
    const want = g.expect.detections;
    const ok =
      dets.length === want.length &&
      want.every((w) => dets.some((d) => d.label === w.label && iou(d.box, w.box) >= g.expect.minIou));
    if (!ok) failures++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${g.image}`, JSON.stringify(dets.map((d) => [d.label, +d.score.toFixed(3), d.box.map((v) => +v.toFixed(1))])));
  } else {
    const score = out.pred_score.data[0];
    const label = Boolean(out.pred_label.data[0]);
    const ok = label === g.expect.anomalous && Math.abs(score - g.expect.score) <= g.expect.tolerance;
    if (!ok) failures++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${g.image} score ${score.toFixed(4)} (expected ${g.expect.score}) label ${label}`,
      `map ${out.anomaly_map.dims} mask ${out.pred_mask.dims} ${out.pred_mask.type}`);
  }
}
process.exitCode = failures ? 1 : 0;
