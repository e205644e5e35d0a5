"""PIL drawing of a posed synthetic face, and the photometric finish (lighting, contrast, sensor noise).

Small outputs are drawn at twice the size and halved (anti-aliasing keeps a 1-pixel eyelid readable at 32x32);
large ones are drawn directly. Colours are drawn independently of the expression so that only geometry (brows,
eyelids, mouth) carries the class.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from oadn.data.ibug68 import (
    EYES,
    INNER_LIPS,
    JAW,
    LEFT_BROW,
    LEFT_EYE,
    LOWER_INNER_LIP,
    NOSE_BOTTOM,
    NOSE_BRIDGE,
    OUTER_LIPS,
    RIGHT_BROW,
    RIGHT_EYE,
    UPPER_INNER_LIP,
    UPPER_LIDS,
)
from oadn.data.occluders.canvas import random_skin
from oadn.data.synthetic.shape import AU_NAMES, FOREHEAD, HAIR, NECK, FaceGeometry

SUPERSAMPLE_BELOW = 64  # sizes under this are drawn at 2x and halved
_NOSE_WRINKLE = AU_NAMES.index("nose_wrinkle")

_LIP_TINT = [0.75, 0.45, 0.45]
# colours drawn independently of the skin (background, hair, iris): uniform in [lo, lo + span] per channel
_FREE_LO = np.array([[20, 20, 20], [10, 5, 0], [20, 20, 10]], dtype=float)
_FREE_SPAN = np.array([[215, 215, 215], [80, 65, 55], [100, 90, 80]], dtype=float)
# colours derived from the skin: multipliers per channel (neck, skin, brows, nose bridge, nostrils, lips, lip line);
# the brow row is replaced per face
_SKIN_FACTORS = np.array([[0.82] * 3, [1.0] * 3, [0.0] * 3, [0.7] * 3, [0.55] * 3, _LIP_TINT,
                          [0.5 * v for v in _LIP_TINT]])
_SKIN_OUTLINE = [*JAW, *FOREHEAD]
#: the lower-lid point below each upper-lid point of UPPER_LIDS
_BELOW_UPPER_LIDS = [41, 40, 47, 46]
#: the upper inner lip with the inner mouth corners, image-left to right
_UPPER_INNER_ROW = INNER_LIPS[:5]


def supersample_factor(image_size: int) -> int:
    """How many times larger than ``image_size`` a face is drawn before downscaling."""
    return 2 if image_size < SUPERSAMPLE_BELOW else 1


def draw_face(rng: np.random.Generator, geom: FaceGeometry, image_size: int) -> tuple[Image.Image, np.ndarray, float]:
    """Background, hair, neck, skin, brows, eyes, nose and lips at the drawing resolution.

    Returns the image, the points in drawing pixels and the drawing pixels per face unit, so that occluders can
    be drawn on top in the same frame.
    """
    f = supersample_factor(image_size)
    n = image_size * f
    p = geom.points * f + (f - 1) / 2  # pixel-centre coordinates at the drawing resolution
    pl = p.tolist()
    unit = geom.scale * f
    u = rng.random(18)
    skin = random_skin(rng)
    factors = _SKIN_FACTORS.copy()
    factors[2] = (0.25 + 0.3 * u[6]) * (0.3 + 0.6 * u[7])  # brows and eyelid lines: a darker shade of the skin
    palette = np.concatenate([_FREE_LO + _FREE_SPAN * u[9:18].reshape(3, 3), skin * factors])
    palette[8, 0] += 30 * u[3]  # redder lips now and then
    bg, hair_col, iris_col, neck_col, skin_col, brow_col, shade, nostril, lip_col, lip_line = map(
        tuple, np.minimum(palette, 255).astype(int).tolist()
    )
    img = Image.new("RGB", (n, n), bg)
    d = ImageDraw.Draw(img)
    for _ in range(int(3 * u[0])):  # background clutter
        x0, y0, w, h = (rng.random(4) * [1.2, 1.2, 0.5, 0.5] + [-0.2, -0.2, 0.1, 0.1]) * n
        shape = d.ellipse if rng.random() < 0.5 else d.rectangle
        shape((x0, y0, x0 + w, y0 + h), fill=tuple((20 + 215 * rng.random(3)).astype(int).tolist()))

    if u[1] < 0.8:  # hair, drawn behind the skin
        d.polygon([pl[i] for i in HAIR], fill=hair_col)
    d.polygon([pl[i] for i in NECK], fill=neck_col)
    d.polygon([pl[i] for i in _SKIN_OUTLINE], fill=skin_col)

    brow_w = max(1, round(unit * (0.06 + 0.04 * u[8])))
    d.line(p[RIGHT_BROW].tolist(), fill=brow_col, width=brow_w)
    d.line(p[LEFT_BROW].tolist(), fill=brow_col, width=brow_w)

    lids = p[UPPER_LIDS] - p[_BELOW_UPPER_LIDS]
    half_open = np.hypot(lids[:, 0], lids[:, 1]).reshape(2, 2).sum(axis=1) / 4
    centres = p[EYES].reshape(2, 6, 2).sum(axis=1) / 6
    for k, eye in enumerate((p[RIGHT_EYE].tolist(), p[LEFT_EYE].tolist())):
        d.polygon(eye, fill=(235, 235, 230))
        r = min(0.06 * unit, 0.95 * half_open[k])
        if r >= 0.5:
            cx, cy = centres[k].tolist()
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=iris_col)
            r *= 0.45
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(15, 15, 15))
        d.polygon(eye, outline=brow_col)

    line_w = max(1, round(unit * 0.02))
    d.line(p[NOSE_BRIDGE].tolist(), fill=shade, width=line_w)
    d.line(p[NOSE_BOTTOM].tolist(), fill=nostril, width=line_w)
    if geom.au[_NOSE_WRINKLE] > 0.4:  # wrinkles beside the bridge
        for side in (-1, 1):
            for k in (0.0, 0.06):
                a = p[NOSE_BRIDGE[1]] + np.array([side * 0.09, k]) * unit
                d.line([tuple(a), tuple(a + np.array([side * 0.07, 0.03]) * unit)], fill=shade, width=line_w)

    d.polygon(p[OUTER_LIPS].tolist(), fill=lip_col)
    upper = p[_UPPER_INNER_ROW]
    gap_v = p[UPPER_INNER_LIP] - p[LOWER_INNER_LIP[::-1]]
    gap = np.hypot(gap_v[:, 0], gap_v[:, 1]).sum() / 3
    if gap > 0.025 * unit:
        d.polygon(p[INNER_LIPS].tolist(), fill=(45, 15, 20))
        teeth = upper + [0.0, min(gap * 0.45, 0.06 * unit)]
        d.polygon(upper.tolist() + teeth[::-1].tolist(), fill=(230, 228, 215))
    else:
        d.line(upper.tolist(), fill=lip_line, width=line_w)
    return img, p, unit


@lru_cache(maxsize=8)
def _ramp(image_size: int, channels: int) -> np.ndarray:
    """Column position from -0.5 (left) to 0.5 (right) for each value of an image row of ``channels``-pixels."""
    return np.repeat(np.linspace(-0.5, 0.5, image_size, dtype=np.float32), channels)


@lru_cache(maxsize=8)
def _noise_bank(image_size: int) -> np.ndarray:
    """A fixed field of Gaussian noise twice the image size; each image reads a random window of it (fast)."""
    return np.random.default_rng(20200101).standard_normal((2 * image_size, 2 * image_size, 3), dtype=np.float32)


def finish(rng: np.random.Generator, img: Image.Image, image_size: int) -> np.ndarray:
    """Downscale to ``image_size`` and apply brightness, contrast, a left-right light gradient and noise.

    The arithmetic runs on rows flattened to (width * channels) values: numpy is several times slower when the
    innermost axis is the 3 colour channels.
    """
    n = image_size
    if img.width != n:
        img = img.reduce(img.width // n)
    u = rng.random(7)
    brightness, contrast, slope, sigma, gray = (u[:5] * [0.55, 0.5, 1.0, 7.0, 1.0] + [0.7, 0.7, -0.5, 1.0, 0]).tolist()
    oy, ox = int(u[5] * n), int(u[6] * n)
    noise = _noise_bank(n)[oy : oy + n, ox : ox + n]
    if gray < 0.3:  # a gray-scale image now and then, as in FER2013-style data
        img, noise, channels = img.convert("L"), noise[..., 0], 1
    else:
        channels = 3
    gain = brightness * (1.0 + slope * _ramp(n, channels))
    # ((x - 128) * contrast + 128) * gain + noise, folded into one multiply and two adds per value
    out = np.asarray(img).reshape(n, n * channels) * (contrast * gain)
    out += 128.0 * (1.0 - contrast) * gain
    out += noise.reshape(n, n * channels) * np.float32(sigma)
    out = np.clip(out, 0, 255, out=out).astype(np.uint8).reshape(n, n, channels)
    return out if channels == 3 else np.repeat(out, 3, axis=2)
