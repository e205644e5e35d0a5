"""PIL drawing of a posed synthetic face, and the photometric finish (lighting, contrast, sensor noise).

Small outputs are drawn at twice the size and halved (anti-aliasing keeps a 1-pixel eyelid readable at 32x32);
large ones are drawn directly. Colours are drawn independently of the expression so that only geometry (brows,
eyelids, mouth) carries the class.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from oadn.data.synthetic.shape import (
    AU_NAMES,
    FaceGeometry,
    JAW,
    L_BROW,
    L_EYE,
    LOWER_INNER,
    NOSE_BOTTOM,
    NOSE_BRIDGE,
    OUTER_LIPS,
    R_BROW,
    R_EYE,
    UPPER_INNER,
)

SUPERSAMPLE_BELOW = 128  # sizes under this are drawn at 2x and halved
_NOSE_WRINKLE = AU_NAMES.index("nose_wrinkle")

# skin tones from light to dark, RGB
_SKIN = np.array([[241, 205, 180], [224, 172, 140], [198, 140, 105], [160, 110, 75], [115, 75, 50], [80, 55, 40]])


def supersample_factor(image_size: int) -> int:
    """How many times larger than ``image_size`` a face is drawn before downscaling."""
    return 2 if image_size < SUPERSAMPLE_BELOW else 1


def _rgb(c: np.ndarray) -> tuple[int, int, int]:
    c = np.clip(c, 0, 255).astype(int)
    return int(c[0]), int(c[1]), int(c[2])


def _xy(points: np.ndarray) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in points]


def random_skin(rng: np.random.Generator) -> np.ndarray:
    """A skin colour: a random blend of two neighbouring palette tones, slightly tinted."""
    t = rng.uniform(0, len(_SKIN) - 1)
    i = int(t)
    base = _SKIN[i] * (1 - (t - i)) + _SKIN[min(i + 1, len(_SKIN) - 1)] * (t - i)
    return base + rng.normal(0, 8, 3)


def draw_face(
    rng: np.random.Generator, geom: FaceGeometry, image_size: int
) -> tuple[Image.Image, ImageDraw.ImageDraw, np.ndarray, float]:
    """Background, hair, neck, skin, brows, eyes, nose and lips at the drawing resolution.

    Returns the image, its drawing context, the points in drawing pixels and the drawing pixels per face unit,
    so that occluders can be drawn on top in the same frame.
    """
    f = supersample_factor(image_size)
    n = image_size * f
    p = geom.points * f + (f - 1) / 2  # pixel-centre coordinates at the drawing resolution
    unit = geom.scale * f
    img = Image.new("RGB", (n, n), _rgb(rng.uniform(20, 235, 3)))
    d = ImageDraw.Draw(img)
    for _ in range(rng.integers(0, 3)):  # background clutter
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * n
        w, h = rng.uniform(0.1, 0.6, 2) * n
        shape = d.ellipse if rng.random() < 0.5 else d.rectangle
        shape((x0, y0, x0 + w, y0 + h), fill=_rgb(rng.uniform(20, 235, 3)))

    skin = random_skin(rng)
    centre = p[JAW].mean(axis=0)
    if rng.random() < 0.8:  # hair: the forehead contour pushed outward, drawn behind the skin
        top = p[[16, *range(68, len(p)), 0]]
        hair = centre + (top - centre) * rng.uniform(1.08, 1.25)
        hair_col = _rgb(rng.uniform(10, 90) * np.array([1.0, rng.uniform(0.6, 1.0), rng.uniform(0.3, 0.9)]))
        d.polygon(_xy(hair), fill=hair_col)
    neck = np.array([p[5], p[11], p[11] + (p[11] - p[16]) * 0.8, p[5] + (p[5] - p[0]) * 0.8])
    d.polygon(_xy(neck), fill=_rgb(skin * 0.82))
    d.polygon(_xy(p[list(JAW) + list(range(68, len(p)))]), fill=_rgb(skin))

    dark = skin * rng.uniform(0.25, 0.55)
    brow_col = _rgb(dark * rng.uniform(0.3, 0.9))
    brow_w = max(1, int(round(unit * rng.uniform(0.05, 0.09))))
    for brow in (R_BROW, L_BROW):
        d.line(_xy(p[brow]), fill=brow_col, width=brow_w, joint="curve")

    iris_col = _rgb(rng.uniform([20, 20, 10], [120, 110, 90]))
    for eye in (R_EYE, L_EYE):
        e = p[eye]
        d.polygon(_xy(e), fill=(235, 235, 230))
        c = e.mean(axis=0)
        half_open = 0.25 * (np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4]))
        r = min(0.06 * unit, 0.95 * half_open)
        if r >= 0.5:
            d.ellipse((c[0] - r, c[1] - r, c[0] + r, c[1] + r), fill=iris_col)
            r2 = r * 0.45
            d.ellipse((c[0] - r2, c[1] - r2, c[0] + r2, c[1] + r2), fill=(15, 15, 15))
        d.polygon(_xy(e), outline=brow_col)

    line_w = max(1, int(round(unit * 0.02)))
    shade = _rgb(skin * 0.7)
    d.line(_xy(p[NOSE_BRIDGE]), fill=shade, width=line_w)
    d.line(_xy(p[NOSE_BOTTOM]), fill=_rgb(skin * 0.55), width=line_w, joint="curve")
    if geom.au[_NOSE_WRINKLE] > 0.4:  # wrinkles beside the bridge
        for side in (-1, 1):
            for k in (0.0, 0.06):
                a = p[28] + np.array([side * 0.09, k]) * unit
                d.line(_xy([a, a + np.array([side * 0.07, 0.03]) * unit]), fill=shade, width=line_w)

    lip_col = skin * np.array([0.85, 0.55, 0.55]) + np.array([30, 0, 0]) * rng.uniform(0, 1)
    d.polygon(_xy(p[OUTER_LIPS]), fill=_rgb(lip_col))
    upper, lower = p[[60, *UPPER_INNER, 64]], p[[64, *LOWER_INNER, 60]]
    gap = np.mean(np.linalg.norm(p[UPPER_INNER] - p[LOWER_INNER[::-1]], axis=1))
    if gap > 0.025 * unit:
        d.polygon(_xy(np.concatenate([upper, lower])), fill=(45, 15, 20))
        teeth = upper + np.array([0.0, min(gap * 0.45, 0.06 * unit)])
        d.polygon(_xy(np.concatenate([upper, teeth[::-1]])), fill=(230, 228, 215))
    else:
        d.line(_xy(upper), fill=_rgb(lip_col * 0.5), width=line_w)
    return img, d, p, unit


@lru_cache(maxsize=8)
def _noise_bank(image_size: int) -> np.ndarray:
    """A fixed field of Gaussian noise twice the image size; each image reads a random window of it (fast)."""
    return np.random.default_rng(20200101).standard_normal((2 * image_size, 2 * image_size, 3), dtype=np.float32)


def finish(rng: np.random.Generator, img: Image.Image, image_size: int) -> np.ndarray:
    """Downscale to ``image_size`` and apply brightness, contrast, a left-right light gradient and noise."""
    if img.width != image_size:
        img = img.reduce(img.width // image_size)
    arr = np.asarray(img, dtype=np.float32)
    brightness, contrast, slope, sigma = rng.uniform([0.7, 0.7, -0.5, 1.0], [1.25, 1.2, 0.5, 8.0])
    oy, ox = rng.integers(0, image_size, 2)
    gain = brightness * (1.0 + slope * np.linspace(-0.5, 0.5, image_size, dtype=np.float32))
    out = (arr - 128.0) * contrast + 128.0
    out *= gain[None, :, None]
    out += _noise_bank(image_size)[oy : oy + image_size, ox : ox + image_size] * sigma
    if rng.random() < 0.3:  # a gray-scale image now and then, as in FER2013-style data
        out[:] = out.mean(axis=2, keepdims=True)
    return np.clip(out, 0, 255).astype(np.uint8)
