"""Washer frames with a bounding box per defect, for the detector (extends ../washer/washer_gen.py, unchanged).

``render_with_boxes(rng, label)`` draws exactly the frame ``washer_gen.render_frame(rng, label)`` draws (same
random stream, same pixels) and also returns one box per visible defect, in source pixels, by recording each
defect layer as the generator makes it. Letterboxing mirrors Ultralytics (pad 114, centred).
"""

import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "washer"))
import washer_gen as wg  # noqa: E402

DET_CLASSES = ["scratch", "dent"]
MIN_CONTRAST = 25.0  # grey levels a defect pixel must differ by to count as visible (and so inside its box)
MIN_PIXELS = 6


def render_with_boxes(rng, label, defect_gain=2.5):
    """Returns (PIL frame, [(class_index, x1, y1, x2, y2), ...]) with boxes in 640x480 pixels (x2/y2 exclusive)."""
    layers = []
    orig_scratch, orig_dent = wg._scratch, wg._dent

    def rec_scratch(r, u, v, r_in, r_out):
        layer = orig_scratch(r, u, v, r_in, r_out)
        layers.append((0, layer, u, v, r_in, r_out))
        return layer

    def rec_dent(r, u, v, r_in, r_out, light):
        layer = orig_dent(r, u, v, r_in, r_out, light)
        layers.append((1, layer, u, v, r_in, r_out))
        return layer

    wg._scratch, wg._dent = rec_scratch, rec_dent
    try:
        pil, mask = wg.render_frame(rng, label, defect_gain=defect_gain, return_mask=True)
    finally:
        wg._scratch, wg._dent = orig_scratch, orig_dent
    boxes = []
    if not layers:
        return pil, boxes
    _, _, u, v, r_in, r_out = layers[0]
    rho = np.hypot(u, v)
    ring = np.clip(r_out - rho + 0.5, 0, 1) * np.clip(rho - r_in + 0.5, 0, 1)
    total = np.abs(sum(layer for _, layer, *_ in layers)) * ring
    # the window's place in the frame: the generator's mask is `total` pasted at (x0, y0)
    wy, wx = np.unravel_index(np.argmax(total), total.shape)
    fy, fx = np.unravel_index(np.argmax(mask), mask.shape)
    oy, ox = fy - wy, fx - wx
    for cls, layer, *_ in layers:
        ys, xs = np.nonzero(np.abs(layer) * ring * defect_gain > MIN_CONTRAST)
        if len(xs) < MIN_PIXELS:
            continue
        boxes.append((cls, float(xs.min() + ox), float(ys.min() + oy), float(xs.max() + ox + 1), float(ys.max() + oy + 1)))
    return pil, boxes


def letterbox(pil, size, pad=114):
    """Ultralytics letterbox: scale to fit, centre, pad with 114. Returns (uint8 HWC, scale, (pad_x, pad_y))."""
    w, h = pil.size
    r = min(size / w, size / h)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = (size - nw) / 2, (size - nh) / 2
    left, top = int(round(dw - 0.1)), int(round(dh - 0.1))
    out = np.full((size, size, 3), pad, dtype=np.uint8)
    out[top:top + nh, left:left + nw] = np.asarray(pil.resize((nw, nh), Image.BILINEAR), dtype=np.uint8)
    return out, r, (left, top)
