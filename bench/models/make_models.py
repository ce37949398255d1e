"""Benchmark models: real architectures with random weights, sized like the models plants run.

    /usr/bin/python3 bench/models/make_models.py OUT_DIR [mobilenetv3s resnet18 yolo-det]

Writes OUT_DIR/<id>/model.onnx and OUT_DIR/<id>/manifest.yaml for each model asked (all three by default):
  - mobilenetv3s: torchvision MobileNetV3-Small, 1000 classes, input `input` [N,3,224,224], output `logits`
  - resnet18:     torchvision ResNet18, 1000 classes, same input and output
  - yolo-det:     a YOLOv8n-like detector (C2f backbone, SPPF, PAN neck, decoupled head with DFL, ~3.2M
                  parameters, 80 classes); input `images` [N,3,640,640], output `output0` [N,84,8400] in the
                  Ultralytics YOLOv8 layout (cx, cy, w, h in input pixels, then per-class sigmoid scores)
Random weights with fixed seeds: the figures are about speed, not accuracy, but the outputs are made to look
like a trained model's on a line of good parts, since what the agent does after inference depends on them
(an NG frame is stored, an unsure one kept as a hard example): the classifiers' last layer favours class 0
(`ok`, p ~ 0.99: a confident OK), and the detector's class bias is set as Ultralytics initialises YOLOv8
(a prior of about 5 objects per image), so it reports few boxes. The compute is that of the architecture.
Opset 17, dynamic batch dimension. CPU only; the bench runs this when the models are missing from its cache.
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn
import torchvision

OPSET = 17
SEED = 20261126
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def conv(c1, c2, k=1, s=1):
    return nn.Sequential(nn.Conv2d(c1, c2, k, s, k // 2, bias=False), nn.BatchNorm2d(c2), nn.SiLU())


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut):
        super().__init__()
        self.cv1, self.cv2, self.add = conv(c, c, 3), conv(c, c, 3), shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1, c2, n, shortcut):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = conv(c1, 2 * self.c)
        self.cv2 = conv((2 + n) * self.c, c2)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2):
        super().__init__()
        c = c1 // 2
        self.cv1, self.cv2 = conv(c1, c), conv(4 * c, c2)
        self.m = nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class YoloV8nLike(nn.Module):
    """YOLOv8n's layer plan (width 0.25, depth 0.33) with the export-time decode inside the graph."""

    def __init__(self, nc=80, size=640, reg_max=16):
        super().__init__()
        self.nc, self.reg_max = nc, reg_max
        self.b1 = nn.Sequential(conv(3, 16, 3, 2), conv(16, 32, 3, 2), C2f(32, 32, 1, True),
                                conv(32, 64, 3, 2), C2f(64, 64, 2, True))                  # P3/8
        self.b2 = nn.Sequential(conv(64, 128, 3, 2), C2f(128, 128, 2, True))             # P4/16
        self.b3 = nn.Sequential(conv(128, 256, 3, 2), C2f(256, 256, 1, True), SPPF(256, 256))  # P5/32
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.h1 = C2f(384, 128, 1, False)
        self.h2 = C2f(192, 64, 1, False)
        self.d1, self.h3 = conv(64, 64, 3, 2), C2f(192, 128, 1, False)
        self.d2, self.h4 = conv(128, 128, 3, 2), C2f(384, 256, 1, False)
        ch, strides = (64, 128, 256), (8, 16, 32)
        c2, c3 = max(16, ch[0] // 4, reg_max * 4), max(ch[0], min(nc, 100))
        self.box = nn.ModuleList(nn.Sequential(conv(c, c2, 3), conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
                                 for c in ch)
        self.cls = nn.ModuleList(nn.Sequential(conv(c, c3, 3), conv(c3, c3, 3), nn.Conv2d(c3, nc, 1))
                                 for c in ch)
        for b, c, s in zip(self.box, self.cls, strides):  # Ultralytics' Detect.bias_init
            nn.init.constant_(b[-1].bias, 1.0)
            nn.init.constant_(c[-1].bias, math.log(5 / nc / (size / s) ** 2))
        anchors, stride = [], []
        for s in strides:
            g = size // s
            sy, sx = torch.meshgrid(torch.arange(g) + 0.5, torch.arange(g) + 0.5, indexing="ij")
            anchors.append(torch.stack((sx, sy), -1).reshape(-1, 2))
            stride.append(torch.full((g * g, 1), float(s)))
        self.register_buffer("anchors", torch.cat(anchors).T.unsqueeze(0))  # [1, 2, 8400]
        self.register_buffer("strides", torch.cat(stride).T.unsqueeze(0))   # [1, 1, 8400]
        self.register_buffer("proj", torch.arange(reg_max, dtype=torch.float32).view(1, reg_max, 1, 1))

    def forward(self, x):
        p3 = self.b1(x)
        p4 = self.b2(p3)
        p5 = self.b3(p4)
        t4 = self.h1(torch.cat([self.up(p5), p4], 1))
        o3 = self.h2(torch.cat([self.up(t4), p3], 1))
        o4 = self.h3(torch.cat([self.d1(o3), t4], 1))
        o5 = self.h4(torch.cat([self.d2(o4), p5], 1))
        n = x.shape[0]
        box = torch.cat([b(o).view(n, 4 * self.reg_max, -1) for b, o in zip(self.box, (o3, o4, o5))], 2)
        cls = torch.cat([c(o).view(n, self.nc, -1) for c, o in zip(self.cls, (o3, o4, o5))], 2)
        # DFL: each side's distance is the expectation over reg_max bins
        dist = (box.view(n, 4, self.reg_max, -1).transpose(1, 2).softmax(1) * self.proj).sum(1)  # [n, 4, A]
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = self.anchors - lt, self.anchors + rb
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * self.strides
        return torch.cat((xywh, cls.sigmoid()), 1)


def export(net, size, input_name, output_name, path):
    net.eval()
    with torch.no_grad():
        torch.onnx.export(net, torch.zeros(1, 3, size, size), path, input_names=[input_name],
                          output_names=[output_name], opset_version=OPSET,
                          dynamic_axes={input_name: {0: "N"}, output_name: {0: "N"}})


def write_manifest(folder, lines):
    with open(os.path.join(folder, "manifest.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def classifier(out, model_id, factory, description):
    torch.manual_seed(SEED)
    net = factory(weights=None, num_classes=1000)
    last = net.fc if isinstance(net, torchvision.models.ResNet) else net.classifier[-1]
    with torch.no_grad():  # a confident `ok`, as a trained model on a good part (see the docstring)
        last.weight.mul_(0.1)
        last.bias.zero_()
        last.bias[0] = 12.0
    folder = os.path.join(out, model_id)
    os.makedirs(folder, exist_ok=True)
    export(net, 224, "input", "logits", os.path.join(folder, "model.onnx"))
    labels = ["ok"] + [f"class-{i}" for i in range(1, 1000)]
    write_manifest(folder, [
        "schema: 1",
        f"id: {model_id}",
        'version: "bench"',
        "task: classification",
        f"description: {description} (random weights, bench/models/make_models.py; for speed figures only)",
        "input:",
        "  name: input",
        "  dtype: float32",
        "  layout: NCHW",
        "  width: 224",
        "  height: 224",
        "  colorOrder: RGB",
        "  resize: shortside-centercrop",
        "  cropPct: 0.875",
        f"  mean: {json.dumps(IMAGENET_MEAN)}",
        f"  std: {json.dumps(IMAGENET_STD)}",
        "outputs:",
        "  - { name: logits, role: scores, activation: softmax }",
        f"labels: {json.dumps(labels)}",
    ])
    return sum(p.numel() for p in net.parameters())


def detector(out, model_id="yolo-det"):
    torch.manual_seed(SEED)
    net = YoloV8nLike()
    folder = os.path.join(out, model_id)
    os.makedirs(folder, exist_ok=True)
    export(net, 640, "images", "output0", os.path.join(folder, "model.onnx"))
    labels = [f"class-{i}" for i in range(80)]
    write_manifest(folder, [
        "schema: 1",
        f"id: {model_id}",
        'version: "bench"',
        "task: detection",
        "description: YOLOv8n-sized detector, 80 classes (random weights, bench/models/make_models.py)",
        "input:",
        "  name: images",
        "  dtype: float32",
        "  layout: NCHW",
        "  width: 640",
        "  height: 640",
        "  colorOrder: RGB",
        "  resize: letterbox",
        "  padValue: 114",
        "outputs:",
        "  - { name: output0, role: detections, format: yolov8 }",
        f"labels: {json.dumps(labels)}",
        "detection: { confidence: 0.25, iou: 0.45, agnostic: false, maxDetections: 300 }",
    ])
    return sum(p.numel() for p in net.parameters())


MAKERS = {
    "mobilenetv3s": lambda out: classifier(out, "mobilenetv3s", torchvision.models.mobilenet_v3_small,
                                           "torchvision MobileNetV3-Small, 1000 classes"),
    "resnet18": lambda out: classifier(out, "resnet18", torchvision.models.resnet18,
                                       "torchvision ResNet18, 1000 classes"),
    "yolo-det": detector,
}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out, wanted = sys.argv[1], sys.argv[2:] or list(MAKERS)
    unknown = [w for w in wanted if w not in MAKERS]
    if unknown:
        sys.exit(f"unknown model(s) {unknown}; known: {list(MAKERS)}")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for model_id in wanted:
        params = MAKERS[model_id](out)
        size = os.path.getsize(os.path.join(out, model_id, "model.onnx"))
        print(f"{model_id}: {params / 1e6:.2f}M parameters, {size / 1e6:.1f} MB -> {out}/{model_id}", flush=True)


if __name__ == "__main__":
    main()
