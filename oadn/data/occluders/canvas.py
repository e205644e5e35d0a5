"""Where occluders are drawn: a canvas holding an occluder's colours and its coverage mask, with the shapes,
colours and textures occluders are made of, and the tests of which pixels and landmarks a mask covers."""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

#: skin tones from light to dark, RGB (faces and hands are drawn in blends of neighbouring tones)
SKIN_TONES = np.array([[241, 205, 180], [224, 172, 140], [198, 140, 105], [160, 110, 75], [115, 75, 50],
                       [80, 55, 40]])


class Canvas:
    """An image to draw occluders on and the mask of what they cover: every shape goes into both at once.

    ``colour`` is the face itself (occluders drawn straight into a synthetic face) or a blank layer composited
    onto a real face later; the mask is 255 where a shape was drawn.
    """

    def __init__(self, colour: Image.Image):
        self.colour = colour
        self.coverage = Image.new("L", colour.size, 0)
        self._colour = ImageDraw.Draw(colour)
        self._coverage = ImageDraw.Draw(self.coverage)

    @classmethod
    def blank(cls, size: int) -> "Canvas":
        """A black, uncovered ``size`` x ``size`` layer."""
        return cls(Image.new("RGB", (size, size)))

    def polygon(self, xy, fill: tuple[int, int, int]) -> None:
        points = [tuple(p) for p in xy]
        self._colour.polygon(points, fill=fill)
        self._coverage.polygon(points, fill=255)

    def line(self, xy, fill: tuple[int, int, int], width: float, joint: str | None = "curve") -> None:
        """A line ``width`` pixels wide (at least one), covering what it crosses."""
        points, w = [tuple(p) for p in xy], max(1, int(round(width)))
        self._colour.line(points, fill=fill, width=w, joint=joint)
        self._coverage.line(points, fill=255, width=w, joint=joint)

    def detail(self, xy, fill: tuple[int, int, int], width: int) -> None:
        """A line in colour only (pleats, stripes): it lies inside a shape that already covers its pixels."""
        self._colour.line([tuple(p) for p in xy], fill=fill, width=width)

    def texture(self, xy, pattern: Image.Image) -> None:
        """Fill the polygon ``xy`` with ``pattern`` (an RGB image of the canvas's size)."""
        self.textured(lambda d: d.polygon([tuple(p) for p in xy], fill=255), pattern)

    def textured(self, draw: Callable[[ImageDraw.ImageDraw], None], pattern: Image.Image) -> None:
        """Whatever ``draw`` paints in 255 on a blank mask, filled with ``pattern``."""
        shape = Image.new("L", self.colour.size, 0)
        draw(ImageDraw.Draw(shape))
        self.colour.paste(pattern, (0, 0), shape)
        self.coverage.paste(255, (0, 0), shape)


@lru_cache(maxsize=4)
def _circle(points: int) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def superellipse(rx: float, ry: float, power: float = 2.0, points: int = 24) -> np.ndarray:
    """``points`` x 2 outline about the origin (power 2 = ellipse, larger = rounded rectangle)."""
    circle = _circle(points)
    return np.sign(circle) * np.abs(circle) ** (2.0 / power) * [rx, ry]


def placed(outline: np.ndarray, centre: np.ndarray, spin: float = 0.0) -> np.ndarray:
    """``outline`` turned by ``spin`` radians and moved to ``centre``."""
    rot = np.array([[np.cos(spin), -np.sin(spin)], [np.sin(spin), np.cos(spin)]])
    return centre + outline @ rot.T


def random_colour(rng: np.random.Generator, lo: float = 0, hi: float = 255) -> tuple[int, int, int]:
    """Each channel uniform in [lo, hi)."""
    c = rng.uniform(lo, hi, 3)
    return int(c[0]), int(c[1]), int(c[2])


def tinted_grey(rng: np.random.Generator, lo: float, hi: float, tint: float = 0.0) -> tuple[int, int, int]:
    """A grey level uniform in [lo, hi), each channel moved by up to ``tint``."""
    base = rng.uniform(lo, hi)
    c = np.clip(base + rng.uniform(-tint, tint, 3), 0, 255)
    return int(c[0]), int(c[1]), int(c[2])


def random_skin(rng: np.random.Generator) -> np.ndarray:
    """A skin colour: a random blend of two neighbouring tones of SKIN_TONES, slightly tinted."""
    u = rng.random(4)
    t = float(u[0]) * (len(SKIN_TONES) - 1)
    i = min(int(t), len(SKIN_TONES) - 2)
    return np.maximum(SKIN_TONES[i] + (SKIN_TONES[i + 1] - SKIN_TONES[i]) * (t - i) + 28 * (u[1:] - 0.5), 0)


def random_pattern(rng: np.random.Generator, size: int) -> Image.Image:
    """A random texture: blotchy smoothed noise in two colours, with stripes half of the time (made at 64 px at
    most and enlarged: a face is at most 64 px, so finer detail would be lost anyway)."""
    return _pattern_at(rng, min(size, 64)).resize((size, size), Image.BILINEAR)


def _pattern_at(rng: np.random.Generator, size: int) -> Image.Image:
    cells = int(rng.integers(3, 9))
    noise = rng.random((cells, cells))
    a, b = np.array(tinted_grey(rng, 0, 255, 60)), np.array(tinted_grey(rng, 0, 255, 60))
    blend = np.asarray(Image.fromarray((noise * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)) / 255.0
    if rng.random() < 0.5:
        period = size / rng.uniform(4, 12)
        phase = np.add.outer(np.arange(size), np.arange(size) * rng.uniform(-1, 1)) / period
        blend = 0.5 * blend + 0.5 * (np.sin(2 * np.pi * phase) > 0)
    grain = rng.normal(0, 12, (size, size, 1))
    rgb = a * (1 - blend[..., None]) + b * blend[..., None] + grain
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def face_hull(points: np.ndarray, size: int) -> np.ndarray:
    """Bool mask of the face: the convex hull of the 68 landmarks (jaw, brows), at ``size`` x ``size``."""
    from scipy.spatial import ConvexHull

    xy = points[:, :2]
    hull = xy[ConvexHull(xy).vertices]
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in hull], fill=255)
    return np.asarray(mask) > 127


def points_under(mask: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Bool per landmark: its pixel is covered (points off the image count as uncovered)."""
    h, w = mask.shape
    xy = np.rint(np.asarray(landmarks)[:, :2]).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    out = np.zeros(len(xy), dtype=bool)
    out[inside] = mask[xy[inside, 1], xy[inside, 0]]
    return out


def points_well_under(mask: np.ndarray, points: np.ndarray, radius: float) -> np.ndarray:
    """Bool per point: covered at its position and at most of four neighbours ``radius`` pixels away (a point on
    an occluder's edge is not hidden)."""
    h, w = mask.shape
    r = max(1.0, radius)
    offsets = np.array([[0, 0], [r, 0], [-r, 0], [0, r], [0, -r]])
    xy = np.rint(points[None, :, :] + offsets[:, None, :]).astype(int)  # 5 x N x 2
    inside = (xy[..., 0] >= 0) & (xy[..., 0] < w) & (xy[..., 1] >= 0) & (xy[..., 1] < h)
    xs, ys = np.minimum(np.maximum(xy[..., 0], 0), w - 1), np.minimum(np.maximum(xy[..., 1], 0), h - 1)
    covered = mask[ys, xs] & inside
    return covered.sum(axis=0) >= 3
