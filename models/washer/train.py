"""Train the demo washer-inspection classifier and export it to ONNX.

Run from the repository root (Debian's python3-torch, python3-onnx, python3-numpy, python3-pil):

    /usr/bin/python3 models/washer/train.py

Steps (deterministic, fixed seeds):
  1. generate 640x480 frames with washer_gen.py, JPEG round trip, bilinear stretch to 128x128
     (exactly what the agent does with sharp: fit 'fill', linear kernel);
  2. train a small CNN on CPU; global max pooling, because a defect is small and local;
  3. export ONNX (opset 17, input `input` [N,3,128,128] float32, output `scores` [N,3] softmax);
  4. evaluate on a held-out generated set (another seed, never trained on);
  5. pick golden images, write manifest.yaml, README.md and the demo frames in samples/washer/.

CI never runs this: the resulting model.onnx is committed.
"""

import hashlib
import multiprocessing as mp
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import make_samples  # noqa: E402
from washer_gen import CLASSES, jpeg_roundtrip, normalise, render_frame, to_model_pixels  # noqa: E402

TRAIN_SEED, HELDOUT_SEED, GOLDEN_SEED, TORCH_SEED = 1001, 2002, 3003, 7
N_TRAIN, N_HELDOUT = 2400, 600
EPOCHS, BATCH, LR = 10, 32, 1e-3
GOLDEN_PER_CLASS, GOLDEN_MIN_CHECK, GOLDEN_MIN_SCORE = 2, 0.9, 0.8
MODEL_PATH = os.path.join(HERE, "model.onnx")


def _example(args):
    seed, index, quality = args
    rng = np.random.default_rng([seed, index])
    label = index % 3
    frame = jpeg_roundtrip(render_frame(rng, label), quality if quality else rng.integers(70, 96))
    return to_model_pixels(frame, Image.BILINEAR), label


def make_set(seed, n, quality=None):
    with mp.get_context("fork").Pool(os.cpu_count() or 2) as pool:
        rows = pool.map(_example, [(seed, i, quality) for i in range(n)], chunksize=32)
    return np.stack([p for p, _ in rows]), np.array([l for _, l in rows], dtype=np.int64)


class WasherNet(nn.Module):
    def __init__(self):
        super().__init__()

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.features = nn.Sequential(
            block(3, 16), nn.MaxPool2d(2),   # 64
            block(16, 32), nn.MaxPool2d(2),  # 32
            block(32, 48), nn.MaxPool2d(2),  # 16
            block(48, 64), block(64, 64),
        )
        self.head = nn.Linear(64, 3)

    def forward(self, x):
        f = self.features(x)
        return torch.softmax(self.head(f.amax(dim=(2, 3))), dim=1)

    def logits(self, x):
        return self.head(self.features(x).amax(dim=(2, 3)))


def train(x, y):
    torch.manual_seed(TORCH_SEED)
    net = WasherNet()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    xt, yt = torch.from_numpy(normalise(x)), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(TORCH_SEED)
    for epoch in range(EPOCHS):
        net.train()
        t0, correct, loss_sum = time.time(), 0, 0.0
        perm = torch.randperm(len(x), generator=gen)
        for s in range(0, len(x), BATCH):
            idx = perm[s:s + BATCH]
            xb, yb = xt[idx], yt[idx]
            if torch.rand(1, generator=gen) < 0.5:
                xb = xb.flip(3)
            if torch.rand(1, generator=gen) < 0.5:
                xb = xb.flip(2)
            logits = net.logits(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
        sched.step()
        print(f"epoch {epoch + 1:2d}/{EPOCHS} loss {loss_sum / len(x):.4f} train acc {correct / len(x):.3f} "
              f"({time.time() - t0:.0f}s)", flush=True)
    return net.eval()


@torch.no_grad()
def scores(net, x):
    return torch.cat([net(torch.from_numpy(normalise(x[i:i + 100]))) for i in range(0, len(x), 100)]).numpy()


def export(net):
    torch.onnx.export(net, torch.zeros(1, 3, 128, 128), MODEL_PATH, input_names=["input"], output_names=["scores"],
                      dynamic_axes={"input": {0: "N"}, "scores": {0: "N"}}, opset_version=17)
    onnx.checker.check_model(onnx.load(MODEL_PATH))
    return os.path.getsize(MODEL_PATH)


@torch.no_grad()
def pick_golden(net):
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    golden, index = [], 0
    for label, name in enumerate(CLASSES):
        found = 0
        while found < GOLDEN_PER_CLASS:
            rng = np.random.default_rng([GOLDEN_SEED, index])
            index += 1
            frame = render_frame(rng, label)
            path = os.path.join(HERE, "golden", f"{name}-{found + 1}.jpg")
            frame.save(path, format="JPEG", quality=90)
            with Image.open(path) as im:
                s = scores(net, to_model_pixels(im.convert("RGB"), Image.BILINEAR)[None])[0]
            if int(s.argmax()) == label and s[label] >= GOLDEN_MIN_CHECK:
                golden.append((f"golden/{name}-{found + 1}.jpg", name))
                found += 1
    return golden


def main():
    t_start = time.time()
    torch.set_num_threads(os.cpu_count() or 2)
    x, y = make_set(TRAIN_SEED, N_TRAIN)
    xh, yh = make_set(HELDOUT_SEED, N_HELDOUT, quality=90)
    print(f"generated {N_TRAIN} + {N_HELDOUT} frames in {time.time() - t_start:.0f}s", flush=True)
    net = train(x, y)
    torch.save(net.state_dict(), '/tmp/washer-net.pt')  # a failed export need not cost the training
    size = export(net)
    pred = scores(net, xh).argmax(1)
    acc = float((pred == yh).mean())
    cm = np.zeros((3, 3), dtype=int)
    for t, p in zip(yh, pred):
        cm[t, p] += 1
    per_class = {c: float(cm[i, i] / cm[i].sum()) for i, c in enumerate(CLASSES)}
    print(f"held-out accuracy {acc:.4f} per class {per_class}\n{cm}")
    golden = pick_golden(net)
    sha = hashlib.sha256(open(MODEL_PATH, "rb").read()).hexdigest()
    with open(os.path.join(HERE, "manifest.yaml"), "w") as f:
        f.write(MANIFEST.format(sha=sha, acc=round(acc, 4), n=N_HELDOUT) + "".join(
            f"  - image: {p}\n    expect: {{ label: {n}, minScore: {GOLDEN_MIN_SCORE} }}\n" for p, n in golden)
            + TRAINING.format(acc=round(acc, 4), n=N_HELDOUT))
    samples = make_samples.main(model_path=None)
    with open(os.path.join(HERE, "results.txt"), "w") as f:
        f.write(f"held-out accuracy {acc:.4f} on {N_HELDOUT} frames (seed {HELDOUT_SEED})\n"
                f"per class {per_class}\nconfusion (rows true {CLASSES}, cols predicted)\n{cm}\n"
                f"model.onnx {size} bytes sha256 {sha}\n{samples}\n")
    print(f"done in {time.time() - t_start:.0f}s; sha256 {sha}")


MANIFEST = """schema: 1
id: washer
version: "1"
sha256: {sha}
task: classification
description: Flat metal washer, top view; classes ok / scratch / dent. Demo model trained on generated images by train.py.
input:
  name: input
  dtype: float32
  layout: NCHW
  width: 128
  height: 128
  colorOrder: RGB
  resize: stretch
  scale: 0.00392156862745098
  mean: [0.485, 0.456, 0.406]
  std: [0.229, 0.224, 0.225]
outputs:
  - name: scores
    role: scores
    activation: none
labels: [ok, scratch, dent]
golden:
"""
TRAINING = """training:
  heldOutAccuracy: {acc}
  heldOutImages: {n}
  generator: train.py
"""

if __name__ == "__main__":
    main()
