"""Occluders drawn over a synthetic face, and the detector-like landmark confidence they imply.

Every occluder is drawn twice with the same polygons: in colour on the image and in white on a coverage mask.
The mask, not the occluder's intent, decides which landmarks are hidden, so scores are low exactly where the
pixels are covered.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from oadn.data.synthetic.render import random_skin
from oadn.data.synthetic.shape import EYES, L_EYE, MOUTH, NUM_LANDMARKS, R_EYE

OCCLUDER_KINDS: tuple[str, ...] = ("sunglasses", "mask", "hand", "box")


class Canvas:
    """The image and its coverage mask at the drawing resolution, with the face frame occluders are placed in."""

    def __init__(self, img: Image.Image, draw: ImageDraw.ImageDraw, points: np.ndarray, unit: float, roll: float):
        self.draw = draw
        self.mask = Image.new("L", img.size, 0)
        self.mask_draw = ImageDraw.Draw(self.mask)
        self.points = points
        self.unit = unit
        self.rot = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])

    def to_pixels(self, centre: np.ndarray, offsets: np.ndarray) -> list[list[float]]:
        """Offsets in face units (x right, y down in the face's own frame) around a pixel ``centre``."""
        return (centre + (offsets @ self.rot.T) * self.unit).tolist()

    def polygon(self, xy: list, fill: tuple[int, ...]) -> None:
        self.draw.polygon(xy, fill=fill)
        self.mask_draw.polygon(xy, fill=255)

    def line(self, xy: list, fill: tuple[int, ...], width: float) -> None:
        """A line ``width`` face units wide."""
        w = max(1, round(width * self.unit))
        self.draw.line(xy, fill=fill, width=w)
        self.mask_draw.line(xy, fill=255, width=w)


_ANGLES = np.linspace(0, 2 * np.pi, 16, endpoint=False)
_CIRCLE = np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1)


def _ellipse(rx: float, ry: float, power: float = 2.0) -> np.ndarray:
    """Superellipse outline (power 2 = ellipse, larger = rounded rectangle) in face units, 16 points."""
    return np.sign(_CIRCLE) * np.abs(_CIRCLE) ** (2.0 / power) * [rx, ry]


def _colour(rng: np.random.Generator, lo: float = 0, hi: float = 255) -> tuple[int, int, int]:
    c = rng.uniform(lo, hi, 3)
    return int(c[0]), int(c[1]), int(c[2])


def _sunglasses(cv: Canvas, rng: np.random.Generator, targeted: bool) -> None:
    col = _colour(rng, 0, 60)
    rx, ry, power = rng.uniform([0.22, 0.13, 2.0], [0.28, 0.18, 4.0])
    lens = _ellipse(rx, ry, power=power)
    centres = cv.points[36:48].reshape(2, 6, 2).sum(axis=1) / 6
    for c in centres:
        cv.polygon(cv.to_pixels(c, lens), col)
    cv.line(centres.tolist(), col, 0.05)


def _mask(cv: Canvas, rng: np.random.Generator, targeted: bool) -> None:
    """A medical mask from the nose bridge over the nose, mouth and chin, just past the jaw line."""
    p = cv.points
    col = _colour(rng, 150, 255) if rng.random() < 0.7 else _colour(rng, 10, 60)
    nose_top = p[28] + (p[29] - p[28]) * (0.8 * rng.random())
    chin = p[2:15] + (p[2:15] - p[29]) * 0.06
    top = [(p[15] + nose_top) / 2, nose_top, (p[1] + nose_top) / 2]
    cv.polygon(np.concatenate([chin, top]).tolist(), col)
    pleat = tuple(int(v * 0.8) for v in col)
    w = max(1, round(0.015 * cv.unit))
    a, b = p[3] + (p[31] - p[3]) * 0.4, p[13] + (p[35] - p[13]) * 0.4
    for k in (0.24, 0.4, 0.56):  # pleats, on the image only: they lie inside the mask polygon
        off = (p[8] - nose_top) * k
        cv.draw.line([tuple(a + off), tuple(b + off)], fill=pleat, width=w)


def _target(cv: Canvas, rng: np.random.Generator, targeted: bool) -> np.ndarray:
    """Where a hand or box goes: on an eye, both eyes or the mouth when it must hide something, else anywhere."""
    p = cv.points
    if targeted:
        region = (R_EYE, L_EYE, EYES, MOUTH, MOUTH)[int(5 * rng.random())]
        return p[region].mean(axis=0) + rng.normal(0, 0.04, 2) * cv.unit
    return p[int(NUM_LANDMARKS * rng.random())] + rng.normal(0, 0.15, 2) * cv.unit


_FINGER_SPREAD = np.linspace(-0.45, 0.45, 4)
_FINGER_LENGTH = 0.8 + 0.2 * np.sin(np.arange(1, 5))  # uneven fingers


def _hand(cv: Canvas, rng: np.random.Generator, targeted: bool) -> None:
    """A palm with four fingers and a thumb, in a random skin tone and direction."""
    col = tuple(np.minimum(random_skin(rng), 255).astype(int).tolist())
    centre = _target(cv, rng, targeted)
    rx, ry, phi, length, thumb_side = rng.uniform([0.28, 0.32, 0, 0.3, -1], [0.4, 0.45, 2 * np.pi, 0.5, 1])
    cv.polygon(cv.to_pixels(centre, _ellipse(rx, ry, power=2.5)), col)
    angles = phi + np.append(_FINGER_SPREAD, 1.4 * np.sign(thumb_side))
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    base = dirs * [rx, ry] * 0.7
    tips = base + dirs * (length * np.append(_FINGER_LENGTH, 0.7))[:, None]
    ends = cv.to_pixels(centre, np.concatenate([base, tips]))
    for k in range(5):
        cv.line([ends[k], ends[k + 5]], col, 0.1)


def _box(cv: Canvas, rng: np.random.Generator, targeted: bool) -> None:
    centre = _target(cv, rng, targeted)
    rx, ry = rng.uniform([0.2, 0.15], [0.45, 0.35])
    spin = rng.uniform(-0.5, 0.5)
    rot = np.array([[np.cos(spin), -np.sin(spin)], [np.sin(spin), np.cos(spin)]])
    corners = np.array([[-rx, -ry], [rx, -ry], [rx, ry], [-rx, ry]]) @ rot.T
    cv.polygon(cv.to_pixels(centre, corners), _colour(rng))
    if rng.random() < 0.6:  # stripes as texture, inside the box
        stripe = _colour(rng)
        for v in np.linspace(-ry, ry, 3 + int(4 * rng.random()))[1:-1]:
            seg = np.array([[-rx, v], [rx, v]]) @ rot.T
            cv.draw.line(cv.to_pixels(centre, seg), fill=stripe, width=max(1, int(0.03 * cv.unit)))


_DRAW = {"sunglasses": _sunglasses, "mask": _mask, "hand": _hand, "box": _box}


def draw_occluders(cv: Canvas, rng: np.random.Generator, kinds: tuple[str, ...], targeted: bool) -> None:
    """Draw one occluder (a quarter of the time two) of the given kinds; ``targeted`` places hands and boxes over
    the eyes or mouth (the occluded test split), otherwise anywhere on the face."""
    for _ in range(1 + int(rng.random() < 0.25)):
        _DRAW[kinds[int(len(kinds) * rng.random())]](cv, rng, targeted)


def occluded_points(mask: Image.Image, points: np.ndarray, unit: float) -> np.ndarray:
    """Bool per landmark: covered at its position and at most of four neighbours a small radius away."""
    m = np.asarray(mask) > 0
    h, w = m.shape
    r = max(1.0, 0.03 * unit)
    offsets = np.array([[0, 0], [r, 0], [-r, 0], [0, r], [0, -r]])
    xy = np.rint(points[None, :, :] + offsets[:, None, :]).astype(int)  # 5 x N x 2
    inside = (xy[..., 0] >= 0) & (xy[..., 0] < w) & (xy[..., 1] >= 0) & (xy[..., 1] < h)
    xs, ys = np.minimum(np.maximum(xy[..., 0], 0), w - 1), np.minimum(np.maximum(xy[..., 1], 0), h - 1)
    covered = m[ys, xs] & inside
    return covered.sum(axis=0) >= 3


def confidence(rng: np.random.Generator, occluded: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Detector-like score per point: U(0.7, 1) when visible, U(0, 0.45) when occluded, 0.2 at most off-image,
    plus noise (uniform, +-0.05) and a 3% chance per point of a detector error either way."""
    u, noise, err = rng.random((3, len(occluded)))
    low = occluded ^ (err < 0.03)
    score = np.where(low, 0.45 * u, 0.7 + 0.3 * u) + 0.1 * (noise - 0.5)
    score[~inside] = 0.2 * u[~inside]
    return np.minimum(np.maximum(score, 0.0), 1.0).astype(np.float32)
