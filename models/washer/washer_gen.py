"""Procedural generator of washer-inspection camera frames.

Every frame is a 640x480 RGB top view of one flat metal washer (an annulus)
lying on a conveyor belt.  Three classes:

    ok       clean washer
    scratch  one to three thin bright or dark line segments on the ring surface
    dent     a small elliptical blotch with directional shading on the ring

Everything is drawn with numpy from a per-frame random generator, so a frame
is a pure function of its seed: ``render_frame(np.random.default_rng(seed), label)``.

The module also holds the preprocessing that mirrors the edge agent
(JPEG round trip -> bilinear stretch of the whole frame to 128x128 ->
scale 1/255 -> ImageNet mean/std, NCHW float32).
"""

import io

import numpy as np
from PIL import Image, ImageFilter

FRAME_W, FRAME_H = 640, 480
MODEL_SIZE = 128
CLASSES = ["ok", "scratch", "dent"]

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# Pixel grid shared by all frames (float32, H x W).
_YY, _XX = np.mgrid[0:FRAME_H, 0:FRAME_W].astype(np.float32)


def _smooth_noise(rng, grid_h, grid_w, scale=1.0, size=(FRAME_W, FRAME_H)):
    """Low-frequency noise: a small random grid upsampled bicubically to ``size`` (w, h)."""
    small = rng.standard_normal((grid_h, grid_w), dtype=np.float32) * scale
    img = Image.fromarray(small, mode="F").resize(size, Image.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def _add_blob(arr, x, y, radius, amp):
    """Add a small gaussian blob in place, touching only a local window of ``arr``."""
    h, w = arr.shape[:2]
    k = int(radius * 4) + 1
    x0, x1 = max(int(x) - k, 0), min(int(x) + k + 1, w)
    y0, y1 = max(int(y) - k, 0), min(int(y) + k + 1, h)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    arr[y0:y1, x0:x1] += amp * np.exp(-0.5 * ((xx - x) ** 2 + (yy - y) ** 2) / radius**2)


def _clip01(a):
    return np.clip(a, 0.0, 1.0)


def _background(rng):
    """Dark rubber conveyor belt with ridges, mottling, specks and optional side rails."""
    level = rng.uniform(40, 95)
    bg = np.full((FRAME_H, FRAME_W), level, dtype=np.float32)

    # Transverse belt ridges (the belt moves roughly left-to-right).
    beta = np.deg2rad(rng.uniform(-6, 6))
    period = rng.uniform(5, 13)
    coord = _XX * np.cos(beta) + _YY * np.sin(beta)
    bg += rng.uniform(1.5, 6) * np.sin(2 * np.pi * coord / period + rng.uniform(0, 2 * np.pi))

    # Mottling and grain.
    bg += _smooth_noise(rng, 9, 12, rng.uniform(3, 9))
    bg += rng.standard_normal((FRAME_H, FRAME_W), dtype=np.float32) * rng.uniform(1.0, 3.5)

    # A belt seam (vertical-ish dark/bright line) now and then.
    if rng.random() < 0.35:
        x0 = rng.uniform(0, FRAME_W)
        d = np.abs(coord - x0)
        bg += rng.choice([-1, 1]) * rng.uniform(8, 20) * np.exp(-0.5 * (d / rng.uniform(1.5, 4)) ** 2)

    # Dust / debris specks on the belt.
    for _ in range(rng.integers(0, 9)):
        _add_blob(bg, rng.uniform(0, FRAME_W), rng.uniform(0, FRAME_H),
                  rng.uniform(1.0, 3.5), rng.choice([-1, 1]) * rng.uniform(10, 35))

    # Metallic side rails at the top and bottom of the view.
    if rng.random() < 0.75:
        rail_level = rng.uniform(105, 175)
        for top in (True, False):
            h = rng.uniform(15, 45)
            t = (_YY / h) if top else ((FRAME_H - 1 - _YY) / h)
            inside = t < 1.0
            rail = rail_level * (0.65 + 0.45 * np.sin(np.pi * _clip01(t)))
            bg = np.where(inside, rail, bg)

    tint = 1.0 + rng.uniform(-0.07, 0.07, size=3).astype(np.float32)
    return bg[..., None] * tint


def _scratch(rng, u, v, r_in, r_out):
    """One scratch: a thin, slightly curved, tapered line in washer coordinates."""
    w = r_out - r_in
    rc = rng.uniform(r_in + 0.2 * w, r_out - 0.2 * w)
    tc = rng.uniform(0, 2 * np.pi)
    pu, pv = rc * np.cos(tc), rc * np.sin(tc)
    ang = rng.uniform(0, np.pi)
    length = rng.uniform(0.6, 1.4) * w
    sigma = rng.uniform(0.9, 1.6)  # gaussian cross-section, FWHM ~2-4 px
    amp = rng.uniform(55, 100) * (1 if rng.random() < 0.6 else -1)
    curv = rng.uniform(-0.004, 0.004)

    du, dv = u - pu, v - pv
    s = du * np.cos(ang) + dv * np.sin(ang)          # along the scratch
    n = -du * np.sin(ang) + dv * np.cos(ang)         # across the scratch
    n = n - curv * s**2
    taper = _clip01((length / 2 - np.abs(s)) / (0.15 * length))
    along = 0.75 + 0.25 * np.cos(s / rng.uniform(4, 12) + rng.uniform(0, 2 * np.pi))
    layer = amp * np.exp(-0.5 * (n / sigma) ** 2) * taper * along
    if rng.random() < 0.4:  # groove edge catching the light on one side
        off = rng.choice([-1, 1]) * 2.2 * sigma
        layer += -0.5 * amp * np.exp(-0.5 * ((n - off) / sigma) ** 2) * taper * along
    return layer


def _dent(rng, u, v, r_in, r_out, light):
    """One dent: an elliptical depression with bipolar shading from the light."""
    w = r_out - r_in
    rc = rng.uniform(r_in + 0.3 * w, r_out - 0.3 * w)
    tc = rng.uniform(0, 2 * np.pi)
    pu, pv = rc * np.cos(tc), rc * np.sin(tc)
    a = rng.uniform(9, 18)
    b = a * rng.uniform(0.6, 1.0)
    ang = rng.uniform(0, np.pi)

    du, dv = u - pu, v - pv
    s = (du * np.cos(ang) + dv * np.sin(ang)) / a
    n = (-du * np.sin(ang) + dv * np.cos(ang)) / b
    q = s**2 + n**2
    g = np.exp(-(q ** 1.3))
    # Light direction expressed in the dent's local frame; the wall facing the
    # light (far side of the depression) is brighter, the near side darker.
    lx, ly = np.cos(light - ang), np.sin(light - ang)
    base = rng.uniform(15, 40) * (1 if rng.random() < 0.4 else -1)
    shade = rng.uniform(45, 90)
    return base * g + shade * (s * lx + n * ly) * g


def render_frame(rng, label, defect_gain=2.5, return_mask=False):
    """Render one 640x480 frame of class ``label`` (0 ok, 1 scratch, 2 dent) as a PIL image.

    ``defect_gain`` scales the defect contrast (2.5 = the demo's nominal: clearly visible defects).
    With ``return_mask`` also returns a float32 HxW map of |defect contrast|.
    """
    img = _background(rng)

    # Washer pose: centre jitter, size jitter, rotation, slight camera tilt (ellipse).
    # The camera frames the part tightly: the washer spans 70-90 % of the frame height.
    r_out = rng.uniform(165, 210)
    cx = FRAME_W / 2 + rng.uniform(-60, 60)
    jy = min(45.0, FRAME_H / 2 - r_out - 8)
    cy = FRAME_H / 2 + rng.uniform(-jy, jy)
    r_in = r_out * rng.uniform(0.42, 0.56)
    w = r_out - r_in
    phi = rng.uniform(0, 2 * np.pi)
    ecc = rng.uniform(0.92, 1.0)
    cphi, sphi = np.cos(phi), np.sin(phi)
    light = rng.uniform(0, 2 * np.pi)  # light azimuth in washer coordinates
    off = rng.uniform(3, 14)           # shadow offset (px)
    soft = rng.uniform(4, 10)          # shadow softness (px)

    # Everything washer-related is computed in a window around the washer only.
    k = int(r_out + off + soft + 4)
    x0, x1 = max(int(cx) - k, 0), min(int(cx) + k + 1, FRAME_W)
    y0, y1 = max(int(cy) - k, 0), min(int(cy) + k + 1, FRAME_H)
    wx, wy = _XX[y0:y1, x0:x1], _YY[y0:y1, x0:x1]
    win = img[y0:y1, x0:x1]

    def washer_coords(xc, yc):
        dx, dy = wx - xc, wy - yc
        return dx * cphi + dy * sphi, (-dx * sphi + dy * cphi) / ecc

    # Soft drop shadow on the belt, offset away from the light.
    la = light + phi
    us, vs = washer_coords(cx - off * np.cos(la), cy - off * np.sin(la))
    rho_s = np.hypot(us, vs)
    shadow = _clip01((r_out - rho_s) / soft + 0.5) * _clip01((rho_s - r_in) / soft + 0.5)
    win = win * (1 - rng.uniform(0.3, 0.55) * shadow)[..., None]

    # Ring surface in polar washer coordinates.
    u, v = washer_coords(cx, cy)
    rho = np.hypot(u, v)
    th = np.arctan2(v, u)
    ring = _clip01(r_out - rho + 0.5) * _clip01(rho - r_in + 0.5)  # anti-aliased edges

    m = rng.uniform(120, 190)
    surf = m * (1
                + rng.uniform(0.04, 0.18) * np.cos(th - light)
                # bow-tie highlight typical of turned (lathe) metal
                + rng.uniform(0.05, 0.25) * np.cos(2 * (th - rng.uniform(0, np.pi))))
    t = (rho - r_in) / w
    surf *= 1 + rng.uniform(-0.1, 0.1) * (t - 0.5)
    # Chamfered edges: lit on the side facing the light.
    bw = rng.uniform(2.5, 6)
    outer_b = _clip01(1 - (r_out - rho) / bw)
    inner_b = _clip01(1 - (rho - r_in) / bw)
    surf += rng.uniform(25, 60) * (outer_b - inner_b) * np.cos(th - light)
    # Concentric turning marks + patchy reflections + fine grain.
    n_tex = int(r_out * 4) + 8
    tex = np.convolve(rng.standard_normal(n_tex), [0.25, 0.5, 0.25], mode="same").astype(np.float32)
    surf += tex[np.clip((rho * 4).astype(np.int32), 0, n_tex - 1)] * rng.uniform(2, 7)
    surf += _smooth_noise(rng, 4, 4, rng.uniform(3, 8), size=(x1 - x0, y1 - y0))
    surf += rng.standard_normal(surf.shape, dtype=np.float32) * rng.uniform(1, 3)
    # Tiny harmless dust specks on the metal (all classes).
    for _ in range(rng.integers(0, 4)):
        rc, tc = rng.uniform(r_in, r_out), rng.uniform(0, 2 * np.pi)
        pu, pv = rc * np.cos(tc), rc * np.sin(tc) * ecc
        _add_blob(surf, cx + pu * cphi - pv * sphi - x0, cy + pu * sphi + pv * cphi - y0,
                  rng.uniform(0.6, 1.2), rng.choice([-1, 1]) * rng.uniform(8, 20))

    # Defects.
    defect = np.zeros_like(surf)
    if label == 1:
        for _ in range(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])):
            defect += _scratch(rng, u, v, r_in, r_out)
    elif label == 2:
        defect += _dent(rng, u, v, r_in, r_out, light)
    surf += defect_gain * defect

    metal_tint = 1.0 + rng.uniform(-0.04, 0.04, size=3).astype(np.float32)
    ring3 = ring[..., None]
    img[y0:y1, x0:x1] = win * (1 - ring3) + surf[..., None] * metal_tint * ring3

    # Global illumination gradient, brightness/contrast, sensor noise.
    grad = (1 + rng.uniform(-0.25, 0.25) * (_XX / FRAME_W - 0.5)
            + rng.uniform(-0.25, 0.25) * (_YY / FRAME_H - 0.5))
    img = img * grad[..., None]
    img = (img - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-25, 25)
    img += rng.standard_normal(img.shape, dtype=np.float32) * rng.uniform(1, 4)

    pil = Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.7:
        pil = pil.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.3, 1.2)))
    if return_mask:
        mask = np.zeros((FRAME_H, FRAME_W), dtype=np.float32)
        mask[y0:y1, x0:x1] = np.abs(defect) * ring
        return pil, mask
    return pil


def jpeg_roundtrip(pil, quality):
    """Encode to JPEG and decode again (the agent only ever sees JPEG frames)."""
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def to_model_pixels(pil, resample=Image.BILINEAR):
    """Stretch the whole frame to 128x128 (no aspect preservation); uint8 HWC."""
    return np.asarray(pil.resize((MODEL_SIZE, MODEL_SIZE), resample), dtype=np.uint8)


def normalise(pixels_u8):
    """uint8 [N,H,W,3] (or [H,W,3]) -> float32 NCHW with 1/255 + ImageNet mean/std."""
    x = pixels_u8.astype(np.float32) * (1.0 / 255.0)
    x = (x - MEAN) / STD
    if x.ndim == 3:
        x = x[None]
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
