"""Write the demo frames replayed by the agent's demo to samples/washer/.

    /usr/bin/python3 models/washer/make_samples.py

36 frames, 640x480 JPEG q85: 24 ok, 6 scratch, 6 dent, in an order shuffled
with a fixed seed, named 0001.jpg ... 0036.jpg, plus labels.csv (file,label).
test/integration/inference.test.ts scores them with the committed model through the agent's own path.
"""

import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from washer_gen import CLASSES, normalise, render_frame, to_model_pixels  # noqa: E402

SAMPLES_SEED = 4004
SAMPLES_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "samples", "washer"))
COUNTS = {"ok": 24, "scratch": 6, "dent": 6}
QUALITY = 85


def main(model_path=None):
    os.makedirs(SAMPLES_DIR, exist_ok=True)
    for f in os.listdir(SAMPLES_DIR):
        if f.endswith(".jpg"):
            os.remove(os.path.join(SAMPLES_DIR, f))

    labels = [name for name, n in COUNTS.items() for _ in range(n)]
    order = np.random.default_rng(SAMPLES_SEED).permutation(len(labels))
    labels = [labels[i] for i in order]

    rows = ["file,label"]
    for j, name in enumerate(labels):
        fname = f"{j + 1:04d}.jpg"
        frame = render_frame(np.random.default_rng([SAMPLES_SEED, j]), CLASSES.index(name))
        frame.save(os.path.join(SAMPLES_DIR, fname), format="JPEG", quality=QUALITY)
        rows.append(f"{fname},{name}")
    with open(os.path.join(SAMPLES_DIR, "labels.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    total = sum(os.path.getsize(os.path.join(SAMPLES_DIR, f)) for f in os.listdir(SAMPLES_DIR))
    print(f"wrote {len(labels)} frames + labels.csv to {SAMPLES_DIR} ({total} bytes)")

    return f"{len(labels)} frames written"


if __name__ == "__main__":
    main()
