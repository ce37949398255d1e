"""Train the washer defect detector (YOLOv8 output layout) and export it to ONNX.

    /usr/bin/python3 models/washer-det/train.py

Generated frames (det_gen.py) -> JPEG round trip -> Ultralytics letterbox to 256x256 -> a tiny stride-16 grid
detector. The exported graph decodes itself into the YOLOv8 layout: `output0` [1, 4+nc, N] with cx, cy, w, h in
input pixels and per-class sigmoid scores (no objectness). Ultralytics-style metadata_props (names, imgsz,
stride, task) are written so the agent can run it with a minimal manifest. Fixed seeds; CPU only.
"""

import hashlib
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from det_gen import DET_CLASSES, letterbox, render_with_boxes  # noqa: E402
from washer_gen import jpeg_roundtrip  # noqa: E402  (det_gen put ../washer on the path)

S, STRIDE, ANCHOR = 256, 16, 24.0
G = S // STRIDE
NC = len(DET_CLASSES)
TRAIN_SEED, HELDOUT_SEED, GOLDEN_SEED, TORCH_SEED = 4001, 5002, 6003, 11
N_TRAIN, N_HELDOUT = int(os.environ.get("N_TRAIN", 900)), 240
EPOCHS, BATCH, LR = int(os.environ.get("EPOCHS", 60)), 16, 2e-3
CONF, IOU = 0.25, 0.45
MODEL_PATH = os.path.join(HERE, "model.onnx")


def _example(args):
    seed, index, quality = args
    rng = np.random.default_rng([seed, index])
    label = index % 3  # ok, scratch, dent
    frame, boxes = render_with_boxes(rng, label)
    frame = jpeg_roundtrip(frame, quality if quality else rng.integers(70, 96))
    img, r, (px, py) = letterbox(frame, S)
    lb = [(c, x1 * r + px, y1 * r + py, x2 * r + px, y2 * r + py) for c, x1, y1, x2, y2 in boxes]
    return img, lb


def make_set(seed, n, quality=None):
    cache = f"/tmp/washer-det-{seed}-{n}-{S}.npz"  # a rerun (e.g. after a failed export) need not redraw
    if os.path.exists(cache):
        z = np.load(cache, allow_pickle=True)
        return z["x"], list(z["boxes"])
    with mp.get_context("fork").Pool(2) as pool:
        rows = pool.map(_example, [(seed, i, quality) for i in range(n)], chunksize=16)
    x, boxes = np.stack([i for i, _ in rows]), [b for _, b in rows]
    np.savez(cache, x=x, boxes=np.array(boxes, dtype=object))
    return x, boxes


class TinyDet(nn.Module):
    def __init__(self):
        super().__init__()

        def block(cin, cout, s=1, d=1):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, s, padding=d, dilation=d, bias=False),
                                 nn.BatchNorm2d(cout), nn.ReLU())

        self.body = nn.Sequential(block(3, 8, 2), block(8, 16, 2), block(16, 24, 2), block(24, 32, 2),
                                  block(32, 32), block(32, 32, d=2), block(32, 32, d=4))
        self.head = nn.Conv2d(32, 4 + NC, 1)
        nn.init.constant_(self.head.bias[4:], -4.6)  # class prior 0.01 (as RetinaNet): the negatives start quiet
        gy, gx = torch.meshgrid(torch.arange(G, dtype=torch.float32), torch.arange(G, dtype=torch.float32),
                                indexing="ij")
        self.register_buffer("grid", torch.stack([gx, gy]).reshape(1, 2, G * G))

    def raw(self, x):
        return self.head(self.body(x)).flatten(2)  # [B, 4+nc, N]

    def decode(self, raw):
        xy = (self.grid + torch.sigmoid(raw[:, 0:2]) * 2 - 0.5) * STRIDE
        wh = (torch.sigmoid(raw[:, 2:4]) * 2) ** 2 * ANCHOR
        return torch.cat([xy, wh, torch.sigmoid(raw[:, 4:])], 1)

    def forward(self, x):
        return self.decode(self.raw(x))


def targets(boxes_list):
    """Per cell: class target [B,nc,N], box target [B,4,N] (x1y1x2y2), positive mask [B,N].
    Each box owns the cell holding its centre and the nearest neighbour in x and in y (YOLOv5-style)."""
    b = len(boxes_list)
    cls = torch.zeros(b, NC, G * G)
    box = torch.zeros(b, 4, G * G)
    pos = torch.zeros(b, G * G, dtype=torch.bool)
    for i, boxes in enumerate(boxes_list):
        for c, x1, y1, x2, y2 in boxes:
            cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
            gx, gy = int(min(cx, G - 1e-3)), int(min(cy, G - 1e-3))
            nx = gx + (1 if cx - gx > 0.5 else -1)
            ny = gy + (1 if cy - gy > 0.5 else -1)
            for ax, ay in ((gx, gy), (nx, gy), (gx, ny)):
                if 0 <= ax < G and 0 <= ay < G:
                    k = ay * G + ax
                    cls[i, c, k] = 1.0
                    box[i, :, k] = torch.tensor([x1, y1, x2, y2])
                    pos[i, k] = True
    return cls, box, pos


def giou(a, b):
    """a, b: [..., 4] x1y1x2y2."""
    iw = (torch.min(a[..., 2], b[..., 2]) - torch.max(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.min(a[..., 3], b[..., 3]) - torch.max(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    area = lambda t: (t[..., 2] - t[..., 0]) * (t[..., 3] - t[..., 1])  # noqa: E731
    union = area(a) + area(b) - inter + 1e-6
    cw = torch.max(a[..., 2], b[..., 2]) - torch.min(a[..., 0], b[..., 0])
    ch = torch.max(a[..., 3], b[..., 3]) - torch.min(a[..., 1], b[..., 1])
    hull = cw * ch + 1e-6
    return inter / union - (hull - union) / hull


def xywh2xyxy(t):
    return torch.stack([t[..., 0] - t[..., 2] / 2, t[..., 1] - t[..., 3] / 2,
                        t[..., 0] + t[..., 2] / 2, t[..., 1] + t[..., 3] / 2], -1)


def flip_boxes(boxes_list, horizontal):
    out = []
    for boxes in boxes_list:
        if horizontal:
            out.append([(c, S - x2, y1, S - x1, y2) for c, x1, y1, x2, y2 in boxes])
        else:
            out.append([(c, x1, S - y2, x2, S - y1) for c, x1, y1, x2, y2 in boxes])
    return out


def to_tensor(imgs):
    return torch.from_numpy(np.ascontiguousarray(imgs.transpose(0, 3, 1, 2))).float() / 255.0


def train(x, boxes):
    torch.manual_seed(TORCH_SEED)
    net = TinyDet()
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-4)
    steps = EPOCHS * ((len(x) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, LR, total_steps=steps, pct_start=0.15)
    # ~250 negative cells per positive one: weight the positives up so the scores do not all sink
    bce = nn.BCEWithLogitsLoss(reduction="sum", pos_weight=torch.tensor(4.0))
    gen = torch.Generator().manual_seed(TORCH_SEED)
    for epoch in range(EPOCHS):
        net.train()
        t0, tot = time.time(), 0.0
        perm = torch.randperm(len(x), generator=gen).tolist()
        for s in range(0, len(x), BATCH):
            idx = perm[s:s + BATCH]
            xb, bb = to_tensor(x[idx]), [boxes[i] for i in idx]
            if torch.rand(1, generator=gen) < 0.5:
                xb, bb = xb.flip(3), flip_boxes(bb, True)
            if torch.rand(1, generator=gen) < 0.5:
                xb, bb = xb.flip(2), flip_boxes(bb, False)
            cls_t, box_t, pos = targets(bb)
            raw = net.raw(xb)
            dec = net.decode(raw)
            n_pos = max(int(pos.sum()), 1)
            loss_cls = bce(raw[:, 4:], cls_t) / n_pos
            pred_xyxy = xywh2xyxy(dec[:, :4].transpose(1, 2))[pos]
            loss_box = (1 - giou(pred_xyxy, box_t.transpose(1, 2)[pos])).sum() / n_pos if pos.any() else 0 * loss_cls
            loss = loss_cls + 5.0 * loss_box
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        print(f"epoch {epoch + 1:2d}/{EPOCHS} loss {tot / len(x):.4f} ({time.time() - t0:.0f}s)", flush=True)
    return net.eval()


def iou_np(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def postprocess(out, conf=CONF, iou=IOU):
    """out [4+nc, N] -> [(cls, score, x1, y1, x2, y2)] after per-class NMS (as the agent's decoder does)."""
    dets = []
    for c in range(NC):
        sc = out[4 + c]
        keep = np.nonzero(sc >= conf)[0]
        cand = sorted(((float(sc[k]), k) for k in keep), reverse=True)
        chosen = []
        for score, k in cand:
            cx, cy, w, h = out[0:4, k]
            b = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            if all(iou_np(b, o) <= iou for o in chosen):
                chosen.append(b)
                dets.append((c, score) + tuple(float(v) for v in b))
    return dets


@torch.no_grad()
def predict(net, x):
    outs = torch.cat([net(to_tensor(x[i:i + 50])) for i in range(0, len(x), 50)]).numpy()
    return [postprocess(o) for o in outs]


def evaluate(preds, gts, conf_eval=0.001):
    """Precision/recall at conf 0.25 and VOC all-points AP@0.5 per class (from all detections >= 0.001)."""
    res = {}
    for c, name in enumerate(DET_CLASSES):
        n_gt = sum(1 for g in gts for b in g if b[0] == c)
        scored = []  # (score, is_tp)
        tp25 = fp25 = 0
        for p, g in zip(preds, gts):
            gt = [b[1:] for b in g if b[0] == c]
            used = [False] * len(gt)
            for d in sorted((d for d in p if d[0] == c), key=lambda d: -d[1]):
                best, bi = 0.0, -1
                for j, gb in enumerate(gt):
                    v = iou_np(d[2:], gb)
                    if v > best and not used[j]:
                        best, bi = v, j
                tp = best >= 0.5
                if tp:
                    used[bi] = True
                scored.append((d[1], tp))
                if d[1] >= CONF:
                    tp25, fp25 = tp25 + tp, fp25 + (not tp)
        scored.sort(key=lambda t: -t[0])
        tps = np.cumsum([t for _, t in scored]) if scored else np.zeros(1)
        fps = np.cumsum([not t for _, t in scored]) if scored else np.zeros(1)
        rec = tps / max(n_gt, 1)
        prec = tps / np.maximum(tps + fps, 1)
        mrec = np.concatenate([[0], rec, [1]])
        mpre = np.concatenate([[1], prec, [0]])
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        ap = float(np.sum((mrec[1:] - mrec[:-1]) * mpre[1:]))
        res[name] = {"gt": n_gt, "ap50": round(ap, 4), "precision": round(tp25 / max(tp25 + fp25, 1), 4),
                     "recall": round(tp25 / max(n_gt, 1), 4)}
    res["mAP50"] = round(float(np.mean([res[n]["ap50"] for n in DET_CLASSES])), 4)
    return res


def export(net):
    tmp = MODEL_PATH + ".tmp"
    torch.onnx.export(net, torch.zeros(1, 3, S, S), tmp, input_names=["images"], output_names=["output0"],
                      opset_version=17)
    m = onnx.load(tmp)
    os.remove(tmp)
    meta = {"author": "edge-vision-agent models/washer-det/train.py",
            "description": "Washer defect detector (generated frames), YOLOv8 output layout",
            "version": "1", "task": "detect", "stride": str(32), "batch": str(1),
            "imgsz": str([S, S]), "names": str({i: n for i, n in enumerate(DET_CLASSES)})}
    del m.metadata_props[:]
    for k, v in meta.items():
        m.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(m)
    onnx.save(m, MODEL_PATH)
    return os.path.getsize(MODEL_PATH)


@torch.no_grad()
def pick_golden(net):
    """Two scratch, two dent, one ok frame whose detections match the generator's boxes exactly."""
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    want = {0: 1, 1: 2, 2: 2}
    golden, index, found = [], 0, {0: 0, 1: 0, 2: 0}
    names = {0: "ok", 1: "scratch", 2: "dent"}
    while any(found[k] < want[k] for k in want) and index < 200:
        label = index % 3
        rng = np.random.default_rng([GOLDEN_SEED, index])
        index += 1
        if found[label] >= want[label]:
            continue
        frame, boxes = render_with_boxes(rng, label)
        path = os.path.join(HERE, "golden", f"{names[label]}-{found[label] + 1}.jpg")
        frame.save(path, format="JPEG", quality=90)
        with Image.open(path) as im:
            img, r, (px, py) = letterbox(im.convert("RGB"), S)
        dets = predict(net, img[None])[0]
        src = [(c, s, (x1 - px) / r, (y1 - py) / r, (x2 - px) / r, (y2 - py) / r) for c, s, x1, y1, x2, y2 in dets]
        ok = len(src) == len(boxes) and all(
            any(d[0] == b[0] and iou_np(d[2:], b[1:]) >= 0.6 for d in src) for b in boxes)
        if ok:
            found[label] += 1
            golden.append({"image": os.path.relpath(path, HERE),
                           "detections": [{"label": DET_CLASSES[c], "score": round(s, 3),
                                           "box": [round(v, 1) for v in (x1, y1, x2, y2)]}
                                          for c, s, x1, y1, x2, y2 in src]})
        else:
            os.remove(path)
    return golden


def main():
    t_start = time.time()
    torch.set_num_threads(int(os.environ.get("THREADS", 1)))
    x, boxes = make_set(TRAIN_SEED, N_TRAIN)
    xh, boxes_h = make_set(HELDOUT_SEED, N_HELDOUT, quality=90)
    print(f"generated {N_TRAIN} + {N_HELDOUT} frames in {time.time() - t_start:.0f}s", flush=True)
    net = train(x, boxes)
    torch.save(net.state_dict(), "/tmp/washer-det.pt")
    size = export(net)
    res = evaluate(predict(net, xh), [[(c, *b) for c, *b in g] for g in boxes_h])
    print(json.dumps(res))
    golden = pick_golden(net)
    sha = hashlib.sha256(open(MODEL_PATH, "rb").read()).hexdigest()
    with open(os.path.join(HERE, "manifest.yaml"), "w") as f:
        f.write(MANIFEST.format(sha=sha))
        for g in golden:
            dets = ", ".join(f"{{ label: {d['label']}, box: {d['box']} }}" for d in g["detections"])
            f.write(f"  - image: {g['image']}\n    expect: {{ detections: [{dets}], minIou: 0.5 }}\n")
        f.write(f"training:\n  heldOutImages: {N_HELDOUT}\n  mAP50: {res['mAP50']}\n  generator: train.py\n")
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump({"heldOut": res, "heldOutImages": N_HELDOUT, "heldOutSeed": HELDOUT_SEED, "bytes": size,
                   "sha256": sha, "golden": golden, "epochs": EPOCHS, "trainImages": N_TRAIN}, f, indent=1)
    print(f"done in {time.time() - t_start:.0f}s; {size} bytes; sha256 {sha}")


MANIFEST = """schema: 1
id: washer-det
version: "1"
sha256: {sha}
task: detection
description: Washer defect detector (scratch, dent), YOLOv8 output layout; demo model trained on generated frames by train.py.
# labels, input size and letterbox come from the ONNX metadata_props (Ultralytics-style); stated here too
input:
  name: images
  dtype: float32
  layout: NCHW
  width: 256
  height: 256
  colorOrder: RGB
  resize: letterbox
  padValue: 114
  scale: 0.00392156862745098
outputs:
  - {{ name: output0, role: detections, format: yolov8 }}
labels: [scratch, dent]
detection: {{ confidence: 0.25, iou: 0.45, agnostic: false, maxDetections: 300 }}
golden:
"""

if __name__ == "__main__":
    main()
