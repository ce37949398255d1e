"""Make int8 (QDQ) and fp16 variants of the washer classifier (../washer/model.onnx, left unchanged).

    /usr/bin/python3 models/washer-int8/quantize.py

int8, static QDQ in the layout onnxruntime fuses into QLinearConv on CPU:
  - weights int8, symmetric, per output channel (DequantizeLinear axis 0); biases int32 (scale in*w, zp 0);
  - activations uint8, per tensor, ranges from 256 calibration frames (seed 8008, never in the held-out set):
    the input over its theoretical normalised range, each conv's output over [0, max] with its Relu folded into
    the quantisation (a uint8 range starting at 0 clips exactly as Relu does), MaxPool between the same Q/DQ;
  - ReduceMax, the 64x3 head and Softmax stay float (tiny).
fp16: every float initializer and activation in float16, with Casts at the graph's input and output so the
agent still feeds and reads float32 (same manifest input as fp32).
Also writes /tmp/washer-heldout.bin (600 held-out frames, seed 2002, as in ../washer) for eval.mjs.
"""

import hashlib
import multiprocessing as mp
import os
import shutil
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
WASHER = os.path.join(HERE, "..", "washer")
sys.path.insert(0, WASHER)
from washer_gen import MEAN, STD, jpeg_roundtrip, normalise, render_frame, to_model_pixels  # noqa: E402

CALIB_SEED, N_CALIB = 8008, 256
HELDOUT_SEED, N_HELDOUT = 2002, 600
SRC = os.path.join(WASHER, "model.onnx")
INT8_PATH = os.path.join(HERE, "model.onnx")
FP16_PATH = os.path.join(HERE, "..", "washer-fp16", "model.onnx")
GOLDEN = ["ok-1.jpg", "scratch-1.jpg", "dent-1.jpg"]  # copied from ../washer/golden
HELDOUT_BIN = "/tmp/washer-heldout.bin"


def _example(args):
    seed, index, quality = args
    rng = np.random.default_rng([seed, index])
    label = index % 3
    frame = jpeg_roundtrip(render_frame(rng, label), quality if quality else rng.integers(70, 96))
    return to_model_pixels(frame, Image.BILINEAR), label


def make_set(seed, n, quality=None):
    with mp.get_context("fork").Pool(2) as pool:
        rows = pool.map(_example, [(seed, i, quality) for i in range(n)], chunksize=16)
    return np.stack([p for p, _ in rows]), np.array([l for _, l in rows], dtype=np.int64)


def conv_ranges(model, x):
    """Max of every Relu output (each follows a Conv) over the calibration frames, computed with torch."""
    init = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    vals = {model.graph.input[0].name: torch.from_numpy(normalise(x))}
    maxes = {}
    with torch.no_grad():
        for n in model.graph.node:
            a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
            i = [vals.get(k, init.get(k)) for k in n.input]
            if n.op_type == "Conv":
                out = F.conv2d(i[0], i[1], i[2], stride=a["strides"], padding=a["pads"][:2])
            elif n.op_type == "Relu":
                out = F.relu(i[0])
                maxes[n.input[0]] = float(out.max())
            elif n.op_type == "MaxPool":
                out = F.max_pool2d(i[0], a["kernel_shape"], a["strides"])
            else:
                break
            vals[n.output[0]] = out
    return maxes


def quantize(model, maxes):
    g = model.graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    new_init, nodes = [], []
    consumers = {}
    for n in g.node:
        for k in n.input:
            consumers.setdefault(k, []).append(n)

    def qparams(name, lo, hi):
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        scale = np.float32((hi - lo) / 255.0)
        zp = np.uint8(np.clip(round(-lo / float(scale)), 0, 255))
        new_init.append(numpy_helper.from_array(np.array(scale, dtype=np.float32), name + "_scale"))
        new_init.append(numpy_helper.from_array(np.array(zp, dtype=np.uint8), name + "_zp"))
        return float(scale)

    def qdq(tensor, out_name, qname):
        """Q then DQ of `tensor` with the params `qname`; returns the DQ output name."""
        nodes.append(helper.make_node("QuantizeLinear", [tensor, qname + "_scale", qname + "_zp"], [out_name + "_q"]))
        nodes.append(helper.make_node("DequantizeLinear", [out_name + "_q", qname + "_scale", qname + "_zp"],
                                      [out_name]))
        return out_name

    in_name = g.input[0].name
    lo = float(((0 - MEAN) / STD).min())
    hi = float(((1 - MEAN) / STD).max())
    act_scale = {in_name: qparams(in_name, lo, hi)}
    current = {in_name: qdq(in_name, in_name + "_dq", in_name)}
    for n in g.node:
        if n.op_type == "Conv":
            x = current[n.input[0]]
            w = init[n.input[1]]
            b = init[n.input[2]]
            w_scale = np.maximum(np.abs(w).reshape(w.shape[0], -1).max(1), 1e-8).astype(np.float32) / 127.0
            w_q = np.clip(np.round(w / w_scale[:, None, None, None]), -127, 127).astype(np.int8)
            b_scale = (act_scale[n.input[0]] * w_scale).astype(np.float32)
            b_q = np.round(b / b_scale).astype(np.int32)
            wn, bn = n.input[1], n.input[2]
            new_init += [numpy_helper.from_array(w_q, wn + "_q"), numpy_helper.from_array(w_scale, wn + "_scale"),
                         numpy_helper.from_array(np.zeros(w.shape[0], np.int8), wn + "_zp"),
                         numpy_helper.from_array(b_q, bn + "_q"), numpy_helper.from_array(b_scale, bn + "_scale"),
                         numpy_helper.from_array(np.zeros(w.shape[0], np.int32), bn + "_zp")]
            nodes.append(helper.make_node("DequantizeLinear", [wn + "_q", wn + "_scale", wn + "_zp"], [wn + "_dq"],
                                          axis=0))
            nodes.append(helper.make_node("DequantizeLinear", [bn + "_q", bn + "_scale", bn + "_zp"], [bn + "_dq"],
                                          axis=0))
            relu = consumers[n.output[0]][0]
            assert relu.op_type == "Relu"
            conv_out = n.output[0]
            nodes.append(helper.make_node("Conv", [x, wn + "_dq", bn + "_dq"], [conv_out], name=n.name,
                                          **{a.name: helper.get_attribute_value(a) for a in n.attribute}))
            act_scale[relu.output[0]] = qparams(relu.output[0], 0.0, maxes[n.output[0]])
            current[relu.output[0]] = qdq(conv_out, relu.output[0] + "_dq", relu.output[0])
        elif n.op_type == "Relu":
            continue  # folded into the uint8 range [0, max] of the conv output above
        elif n.op_type == "MaxPool":
            src = n.input[0]
            nodes.append(helper.make_node("MaxPool", [current[src]], [n.output[0]], name=n.name,
                                          **{a.name: helper.get_attribute_value(a) for a in n.attribute}))
            act_scale[n.output[0]] = act_scale[src]
            current[n.output[0]] = qdq(n.output[0], n.output[0] + "_dq", src)  # same params as its input
        else:
            nodes.append(helper.make_node(n.op_type, [current.get(k, k) for k in n.input], list(n.output),
                                          name=n.name, **{a.name: helper.get_attribute_value(a) for a in n.attribute}))
    keep = [i for i in g.initializer if i.name in ("head.weight", "head.bias")]
    graph = helper.make_graph(nodes, "washer_int8_qdq", list(g.input), list(g.output), initializer=keep + new_init)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="washer-int8/quantize.py")
    m.ir_version = model.ir_version
    onnx.checker.check_model(m)
    return m


def to_fp16(model):
    g = model.graph
    inits = []
    for i in g.initializer:
        a = numpy_helper.to_array(i)
        inits.append(numpy_helper.from_array(a.astype(np.float16) if a.dtype == np.float32 else a, i.name))
    in_name, out_name = g.input[0].name, g.output[0].name
    nodes = [helper.make_node("Cast", [in_name], [in_name + "_fp16"], to=TensorProto.FLOAT16)]
    for n in g.node:
        ins = [in_name + "_fp16" if k == in_name else k for k in n.input]
        outs = [out_name + "_fp16" if k == out_name else k for k in n.output]
        nodes.append(helper.make_node(n.op_type, ins, outs, name=n.name,
                                      **{a.name: helper.get_attribute_value(a) for a in n.attribute}))
    nodes.append(helper.make_node("Cast", [out_name + "_fp16"], [out_name], to=TensorProto.FLOAT))
    graph = helper.make_graph(nodes, "washer_fp16", list(g.input), list(g.output), initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="washer-int8/quantize.py")
    m.ir_version = model.ir_version
    onnx.checker.check_model(m)
    return m


def write_manifest(folder, ident, precision, sha):
    """The fp32 washer manifest with this variant's id and sha256; the golden images are copied beside it."""
    os.makedirs(os.path.join(folder, "golden"), exist_ok=True)
    for name in GOLDEN:
        shutil.copyfile(os.path.join(WASHER, "golden", name), os.path.join(folder, "golden", name))
    src = open(os.path.join(WASHER, "manifest.yaml")).read()
    head = src[:src.index("golden:")]
    head = head.replace("id: washer\n", f"id: {ident}\n").replace(src.split("sha256: ")[1].split("\n")[0], sha)
    head = head.replace("description: ", f"description: {precision} variant of the washer classifier (quantize.py). ")
    with open(os.path.join(folder, "manifest.yaml"), "w") as f:
        f.write(head + "golden:\n" + "".join(
            f"  - image: golden/{n}\n    expect: {{ label: {n.split('-')[0]}, minScore: 0.8 }}\n" for n in GOLDEN))


def main():
    torch.set_num_threads(1)
    model = onnx.load(SRC)
    xc, _ = make_set(CALIB_SEED, N_CALIB)
    maxes = conv_ranges(model, xc)
    print("calibrated ranges", {k.split("/")[2]: round(v, 3) for k, v in maxes.items()})
    onnx.save(quantize(model, maxes), INT8_PATH)
    onnx.save(to_fp16(model), FP16_PATH)
    for p, ident, precision in ((INT8_PATH, "washer-int8", "int8 (QDQ)"), (FP16_PATH, "washer-fp16", "fp16")):
        sha = hashlib.sha256(open(p, "rb").read()).hexdigest()
        print(ident, os.path.getsize(p), sha)
        write_manifest(os.path.dirname(p), ident, precision, sha)
    xh, yh = make_set(HELDOUT_SEED, N_HELDOUT, quality=90)
    with open(HELDOUT_BIN, "wb") as f:  # header: n, h, w; then labels int32; then pixels uint8 NHWC
        np.array([len(xh), xh.shape[1], xh.shape[2]], dtype=np.int32).tofile(f)
        yh.astype(np.int32).tofile(f)
        xh.tofile(f)
    print("held-out frames in", HELDOUT_BIN)


if __name__ == "__main__":
    main()
