"""Occluder kinds drawn into a synthetic face while it is drawn, in the face's own frame (its size unit and roll).

They are drawn straight into the face's drawing on a :class:`~oadn.data.occluders.canvas.Canvas`, so the same
polygons land in the face's pixels and in the coverage mask that decides which landmarks are hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oadn.data.ibug68 import CHIN, EYES, JAW, LEFT_EYE, MOUTH, NOSE_BOTTOM, NOSE_BRIDGE, NUM_LANDMARKS, RIGHT_EYE
from oadn.data.occluders.canvas import Canvas, random_colour, random_skin, superellipse

OCCLUDER_KINDS: tuple[str, ...] = ("sunglasses", "mask", "hand", "box")
#: outline points of the superellipses these kinds draw
_OUTLINE_POINTS = 16


@dataclass
class DrawnFace:
    """A synthetic face at the drawing resolution: its landmarks, size unit (pixels per face unit) and roll."""

    points: np.ndarray
    unit: float
    roll: float

    def __post_init__(self) -> None:
        self.rot = np.array([[np.cos(self.roll), -np.sin(self.roll)], [np.sin(self.roll), np.cos(self.roll)]])

    def to_pixels(self, centre: np.ndarray, offsets: np.ndarray) -> list[list[float]]:
        """Offsets in face units (x right, y down in the face's own frame) around a pixel ``centre``."""
        return (centre + (offsets @ self.rot.T) * self.unit).tolist()


def _line(cv: Canvas, face: DrawnFace, xy: list, fill: tuple[int, ...], width: float) -> None:
    """A line ``width`` face units wide."""
    cv.line(xy, fill, width * face.unit, joint=None)


def _sunglasses(cv: Canvas, face: DrawnFace, rng: np.random.Generator, targeted: bool) -> None:
    col = random_colour(rng, 0, 60)
    rx, ry, power = rng.uniform([0.22, 0.13, 2.0], [0.28, 0.18, 4.0])
    lens = superellipse(rx, ry, power, _OUTLINE_POINTS)
    centres = face.points[EYES].reshape(2, 6, 2).sum(axis=1) / 6
    for c in centres:
        cv.polygon(face.to_pixels(c, lens), col)
    _line(cv, face, centres.tolist(), col, 0.05)


def _mask(cv: Canvas, face: DrawnFace, rng: np.random.Generator, targeted: bool) -> None:
    """A medical mask from the nose bridge over the nose, mouth and chin, just past the jaw line."""
    p = face.points
    col = random_colour(rng, 150, 255) if rng.random() < 0.7 else random_colour(rng, 10, 60)
    bridge, middle = p[NOSE_BRIDGE[1]], p[NOSE_BRIDGE[2]]
    nose_top = bridge + (middle - bridge) * (0.8 * rng.random())
    jaw = p[JAW[2:15]]
    chin = jaw + (jaw - middle) * 0.06
    top = [(p[JAW[15]] + nose_top) / 2, nose_top, (p[JAW[1]] + nose_top) / 2]
    cv.polygon(np.concatenate([chin, top]).tolist(), col)
    pleat = tuple(int(v * 0.8) for v in col)
    w = max(1, round(0.015 * face.unit))
    nostrils = p[NOSE_BOTTOM[0]], p[NOSE_BOTTOM[-1]]
    a, b = p[JAW[3]] + (nostrils[0] - p[JAW[3]]) * 0.4, p[JAW[13]] + (nostrils[1] - p[JAW[13]]) * 0.4
    for k in (0.24, 0.4, 0.56):  # pleats, inside the mask polygon
        off = (p[CHIN] - nose_top) * k
        cv.detail([tuple(a + off), tuple(b + off)], pleat, w)


def _target(face: DrawnFace, rng: np.random.Generator, targeted: bool) -> np.ndarray:
    """Where a hand or box goes: on an eye, both eyes or the mouth when it must hide something, else anywhere."""
    p = face.points
    if targeted:
        region = (RIGHT_EYE, LEFT_EYE, EYES, MOUTH, MOUTH)[int(5 * rng.random())]
        return p[region].mean(axis=0) + rng.normal(0, 0.04, 2) * face.unit
    return p[int(NUM_LANDMARKS * rng.random())] + rng.normal(0, 0.15, 2) * face.unit


_FINGER_SPREAD = np.linspace(-0.45, 0.45, 4)
_FINGER_LENGTH = 0.8 + 0.2 * np.sin(np.arange(1, 5))  # uneven fingers


def _hand(cv: Canvas, face: DrawnFace, rng: np.random.Generator, targeted: bool) -> None:
    """A palm with four fingers and a thumb, in a random skin tone and direction."""
    col = tuple(np.minimum(random_skin(rng), 255).astype(int).tolist())
    centre = _target(face, rng, targeted)
    rx, ry, phi, length, thumb_side = rng.uniform([0.28, 0.32, 0, 0.3, -1], [0.4, 0.45, 2 * np.pi, 0.5, 1])
    cv.polygon(face.to_pixels(centre, superellipse(rx, ry, 2.5, _OUTLINE_POINTS)), col)
    angles = phi + np.append(_FINGER_SPREAD, 1.4 * np.sign(thumb_side))
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    base = dirs * [rx, ry] * 0.7
    tips = base + dirs * (length * np.append(_FINGER_LENGTH, 0.7))[:, None]
    ends = face.to_pixels(centre, np.concatenate([base, tips]))
    for k in range(5):
        _line(cv, face, [ends[k], ends[k + 5]], col, 0.1)


def _box(cv: Canvas, face: DrawnFace, rng: np.random.Generator, targeted: bool) -> None:
    centre = _target(face, rng, targeted)
    rx, ry = rng.uniform([0.2, 0.15], [0.45, 0.35])
    spin = rng.uniform(-0.5, 0.5)
    rot = np.array([[np.cos(spin), -np.sin(spin)], [np.sin(spin), np.cos(spin)]])
    corners = np.array([[-rx, -ry], [rx, -ry], [rx, ry], [-rx, ry]]) @ rot.T
    cv.polygon(face.to_pixels(centre, corners), random_colour(rng))
    if rng.random() < 0.6:  # stripes as texture, inside the box
        stripe = random_colour(rng)
        for v in np.linspace(-ry, ry, 3 + int(4 * rng.random()))[1:-1]:
            seg = np.array([[-rx, v], [rx, v]]) @ rot.T
            cv.detail(face.to_pixels(centre, seg), stripe, max(1, int(0.03 * face.unit)))


_DRAW = {"sunglasses": _sunglasses, "mask": _mask, "hand": _hand, "box": _box}


def draw_occluders(cv: Canvas, face: DrawnFace, rng: np.random.Generator, kinds: tuple[str, ...],
                   targeted: bool) -> None:
    """Draw one occluder (a quarter of the time two) of the given kinds; ``targeted`` places hands and boxes over
    the eyes or mouth (the occluded test split), otherwise anywhere on the face."""
    for _ in range(1 + int(rng.random() < 0.25)):
        _DRAW[kinds[int(len(kinds) * rng.random())]](cv, face, rng, targeted)
