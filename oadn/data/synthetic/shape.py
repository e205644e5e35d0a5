"""Face geometry of the synthetic set: a hand-built iBUG-68 mean shape, identity, expression and pose.

Everything happens in a normalized face frame (x to the image right, y down, jaw half-width about 1, eyes at
y = -0.25, mouth at y = 0.57, chin at y = 1) and is mapped to pixels last. Expressions are sums of a few
action-unit-like displacement fields, so the class is carried by brows, eyelids and mouth alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from oadn.data.ibug68 import (
    BROWS,
    EYES,
    JAW,
    LEFT_EYE,
    LOWER_LIDS,
    LOWER_LIP,
    LOWER_OUTER_LIP,
    MOUTH,
    MOUTH_CORNERS,
    NEAR_MOUTH_CORNERS,
    NOSE_BOTTOM,
    NOSE_BRIDGE,
    NUM_LANDMARKS,
    RIGHT_EYE,
    UPPER_INNER_LIP,
    UPPER_LIDS,
    UPPER_OUTER_LIP,
)

#: contour points appended after the 68 landmarks, drawn but not annotated: the forehead (from jaw point 16 over
#: the top to jaw point 0), the hair outline (the same, pushed outward per identity) and the neck
NUM_FOREHEAD = 9
FOREHEAD = np.arange(NUM_LANDMARKS, NUM_LANDMARKS + NUM_FOREHEAD)
HAIR = np.arange(FOREHEAD[-1] + 1, FOREHEAD[-1] + 3 + NUM_FOREHEAD)
NECK = np.arange(HAIR[-1] + 1, HAIR[-1] + 5)
_HAIR_CENTRE = np.array([0.0, -0.17])


EYE_CENTRE_X, EYE_Y, EYE_HALF_W, EYE_HALF_H = 0.4, -0.25, 0.16, 0.07
MOUTH_Y = 0.57
FOREHEAD_TOP = -1.15


def _eye(cx: float, inner_first: bool) -> np.ndarray:
    w, h = EYE_HALF_W, EYE_HALF_H
    # iBUG order for the image-left eye: outer corner, two upper-lid points, inner corner, two lower-lid points.
    offsets = np.array([[-w, 0], [-w / 3, -h], [w / 3, -h], [w, 0], [w / 3, h], [-w / 3, h]])
    if inner_first:  # the image-right eye is the mirror image: inner corner first, outer corner at index 3
        offsets = offsets * [-1, 1]
        offsets = offsets[[3, 2, 1, 0, 5, 4]]
    return offsets + [cx, EYE_Y]


def _mean_shape() -> np.ndarray:
    t = np.linspace(-0.25, np.pi + 0.25, 17)
    chin = np.clip(np.sin(t), 0, None)
    jaw = np.stack([-np.cos(t) * (1.0 - 0.22 * chin**2), np.sin(t)], axis=1)
    u = np.linspace(0, 1, 5)
    r_brow = np.stack([-0.78 + 0.62 * u, -0.5 - 0.09 * np.sin(np.pi * (0.3 + 0.7 * u)) + 0.02 * u], axis=1)
    l_brow = (r_brow * [-1, 1])[::-1]
    bridge = np.stack([np.zeros(4), np.linspace(-0.3, 0.18, 4)], axis=1)
    bottom = np.array([[-0.17, 0.24], [-0.09, 0.27], [0.0, 0.29], [0.09, 0.27], [0.17, 0.24]])
    m = MOUTH_Y
    outer = np.array(
        [[-0.36, m], [-0.22, m - 0.07], [-0.08, m - 0.09], [0.0, m - 0.075], [0.08, m - 0.09], [0.22, m - 0.07],
         [0.36, m], [0.22, m + 0.08], [0.1, m + 0.11], [0.0, m + 0.115], [-0.1, m + 0.11], [-0.22, m + 0.08]]
    )
    inner = np.array(
        [[-0.3, m], [-0.12, m - 0.01], [0.0, m - 0.005], [0.12, m - 0.01],
         [0.3, m], [0.12, m + 0.01], [0.0, m + 0.005], [-0.12, m + 0.01]]
    )
    a = np.linspace(0.15, np.pi - 0.15, NUM_FOREHEAD)
    forehead = np.stack([np.cos(a) * 0.97, -0.2 - 0.95 * np.sin(a)], axis=1)
    hair = np.concatenate([jaw[16:], forehead, jaw[:1]])
    neck = np.array([[-0.5, 0.7], [0.5, 0.7], [0.6, 1.9], [-0.6, 1.9]])
    parts = [jaw, r_brow, l_brow, bridge, bottom, _eye(-EYE_CENTRE_X, False), _eye(EYE_CENTRE_X, True), outer,
             inner, forehead, hair, neck]
    return np.concatenate(parts).astype(np.float64)


MEAN_SHAPE = _mean_shape()
_N = MEAN_SHAPE.shape[0]


def _depth() -> np.ndarray:
    """Rough depth per point (toward the viewer), so yaw shifts the nose and mouth more than the silhouette."""
    x, y = MEAN_SHAPE[:, 0], MEAN_SHAPE[:, 1]
    z = 0.45 * np.sqrt(np.clip(1 - (x / 1.05) ** 2, 0, None))
    z[JAW] = 0.35 * np.clip(y[JAW], 0, None) ** 2
    z[NUM_LANDMARKS:] = 0.0
    z[NOSE_BRIDGE] += np.linspace(0.1, 0.35, 4)
    z[NOSE_BOTTOM] += [0.12, 0.2, 0.28, 0.2, 0.12]
    z[MOUTH] += 0.06
    return z


DEPTH = _depth()


def _field(points: np.ndarray, dx: np.ndarray | float = 0.0, dy: np.ndarray | float = 0.0) -> np.ndarray:
    f = np.zeros((_N, 2))
    f[points, 0] += dx
    f[points, 1] += dy
    return f


def _inner_weight() -> np.ndarray:
    """Per brow point, 0 at the outer end and 1 at the inner end (next to the nose)."""
    u = np.linspace(0, 1, 5)
    return np.concatenate([u, u[::-1]])


def _action_units() -> dict[str, np.ndarray]:
    """Displacement fields (one _N x 2 array each) of the facial actions the seven expressions are built from."""
    side = np.sign(MEAN_SHAPE[:, 0])
    inner = _inner_weight()
    chin_w = np.exp(-(((JAW - 8) / 2.5) ** 2))
    corner_side = side[MOUTH_CORNERS]
    near_side = side[NEAR_MOUTH_CORNERS]
    au = {
        "brow_up": _field(BROWS, dy=-0.13) + _field(UPPER_LIDS, dy=-0.01),
        "inner_brow_up": _field(BROWS, dy=-0.16 * inner**1.5),
        "brow_down": _field(BROWS, dy=0.1 * (0.5 + 0.5 * inner)) + _field(UPPER_LIDS, dy=0.01),
        "brow_together": _field(BROWS, dx=-side[BROWS] * 0.07 * (0.3 + 0.7 * inner)),
        "eye_wide": _field(UPPER_LIDS, dy=-0.055) + _field(LOWER_LIDS, dy=0.02),
        "eye_narrow": _field(UPPER_LIDS, dy=0.035) + _field(LOWER_LIDS, dy=-0.025),
        "jaw_drop": _field(LOWER_LIP, dy=0.2) + _field(UPPER_INNER_LIP, dy=-0.02) + _field(JAW, dy=0.14 * chin_w)
        + _field(MOUTH_CORNERS, dy=0.06) + _field(NEAR_MOUTH_CORNERS[2:], dy=0.15),
        "lip_round": _field(MOUTH_CORNERS, dx=-corner_side * 0.1) + _field(NEAR_MOUTH_CORNERS, dx=-near_side * 0.05),
        "lip_stretch": _field(MOUTH_CORNERS, dx=corner_side * 0.13, dy=0.025)
        + _field(NEAR_MOUTH_CORNERS, dx=near_side * 0.08, dy=0.01) + _field(UPPER_OUTER_LIP, dy=0.02)
        + _field(LOWER_OUTER_LIP, dy=-0.02),
        "corners_up": _field(MOUTH_CORNERS, dx=corner_side * 0.1, dy=-0.12)
        + _field(NEAR_MOUTH_CORNERS, dx=near_side * 0.06, dy=-0.05) + _field(LOWER_LIP, dy=0.04)
        + _field(LOWER_LIDS, dy=-0.02) + _field(UPPER_LIDS, dy=0.01),
        "corners_down": _field(MOUTH_CORNERS, dx=-corner_side * 0.02, dy=0.1) + _field(NEAR_MOUTH_CORNERS, dy=0.045)
        + _field(LOWER_LIP, dy=-0.015),
        "upper_lip_raise": _field(UPPER_OUTER_LIP, dy=-0.07) + _field(UPPER_INNER_LIP, dy=-0.07)
        + _field(NOSE_BOTTOM, dx=side[NOSE_BOTTOM] * 0.03, dy=-0.04),
        "lip_press": _field(UPPER_OUTER_LIP, dy=0.035) + _field(LOWER_OUTER_LIP, dy=-0.045)
        + _field(MOUTH_CORNERS, dx=-corner_side * 0.04) + _field(JAW, dy=-0.03 * chin_w),
        "nose_wrinkle": _field(NOSE_BOTTOM, dy=-0.035) + _field(NOSE_BRIDGE[2:], dy=-0.03),
    }
    return au


ACTION_UNITS = _action_units()
AU_NAMES = tuple(ACTION_UNITS)
_AU_STACK = np.stack([ACTION_UNITS[n] for n in AU_NAMES])  # A x _N x 2

#: action-unit weights per expression, keyed by the names of ``oadn.data.labels.BASIC_CLASSES``
EXPRESSIONS: dict[str, dict[str, float]] = {
    "surprise": {"brow_up": 1.0, "eye_wide": 1.0, "jaw_drop": 1.0, "lip_round": 0.8},
    "fear": {"brow_up": 0.5, "inner_brow_up": 0.7, "brow_together": 1.0, "eye_wide": 1.0, "lip_stretch": 1.0,
             "jaw_drop": 0.35},
    "disgust": {"brow_down": 0.8, "eye_narrow": 0.7, "upper_lip_raise": 1.0, "nose_wrinkle": 1.0,
                "corners_down": 0.3},
    "happiness": {"corners_up": 1.0, "jaw_drop": 0.2, "upper_lip_raise": 0.2, "eye_narrow": 0.2},
    "sadness": {"inner_brow_up": 1.0, "brow_together": 0.4, "corners_down": 1.0, "eye_narrow": 0.25},
    "anger": {"brow_down": 1.0, "brow_together": 1.0, "eye_narrow": 0.6, "lip_press": 1.0},
    "neutral": {},
}


def expression_weights(classes: tuple[str, ...]) -> np.ndarray:
    """C x A matrix of action-unit weights, one row per class name."""
    return np.array([[EXPRESSIONS[c].get(a, 0.0) for a in AU_NAMES] for c in classes])


@dataclass
class FaceGeometry:
    """A posed face: landmarks plus forehead contour in pixels and the numbers the renderer needs."""

    points: np.ndarray  # landmarks then FOREHEAD, HAIR and NECK contours, x 2, in pixels (pixel i's centre at i)
    scale: float  # pixels per normalized face unit
    roll: float  # radians
    au: np.ndarray  # applied action-unit weights, in AU_NAMES order

    @property
    def landmarks(self) -> np.ndarray:
        return self.points[:NUM_LANDMARKS]


def _identity_basis() -> np.ndarray:
    """Displacement fields whose weighted sum turns the mean shape into one person's face (7 x _N x 2):
    eye size, eye spacing, brow height, mouth width, mouth height, nose length, hair volume."""
    m = MEAN_SHAPE
    side = np.sign(m[:, 0])
    eye_size = np.zeros_like(m)
    for eye in (RIGHT_EYE, LEFT_EYE):
        eye_size[eye] = m[eye] - m[eye].mean(axis=0)
    spacing = _field(EYES, dx=side[EYES]) + _field(BROWS, dx=0.7 * side[BROWS])
    mouth_w = _field(MOUTH, dx=m[MOUTH, 0])
    lower_nose = np.concatenate([NOSE_BRIDGE[1:], NOSE_BOTTOM])
    nose = _field(lower_nose, dy=m[lower_nose, 1] - EYE_Y)
    hair = np.zeros_like(m)
    hair[HAIR] = m[HAIR] - _HAIR_CENTRE
    return np.stack([eye_size, spacing, _field(BROWS, dy=1.0), mouth_w, _field(MOUTH, dy=1.0), nose, hair])


# identity parameter ranges, in _identity_basis order, then face width and height scale
_ID_LO = np.array([-0.15, -0.05, -0.05, -0.15, -0.04, -0.1, 0.08, 0.88, 0.92])
_ID_HI = np.array([0.2, 0.05, 0.05, 0.15, 0.04, 0.1, 0.25, 1.12, 1.08])
_NUM_ID = len(_ID_LO) - 2
_BASIS = np.concatenate([_identity_basis(), _AU_STACK]).reshape(_NUM_ID + len(AU_NAMES), -1)
_JITTER = 0.012  # per-landmark identity jitter, face units
#: spread of every action unit's weight around its class value: faces mix expressions, so classes overlap a little
AU_NOISE = 0.15


def sample_geometry(
    rng: np.random.Generator, class_weights: np.ndarray, image_size: int, frontal: bool = False
) -> FaceGeometry:
    """Draw identity, expression intensity and pose for one face of the class whose AU row is ``class_weights``.

    ``frontal`` turns pose off (no roll or yaw, fixed scale, centred), for tests and figures; the identity and
    expression drawn are the same as without it.
    """
    u = rng.random(_NUM_ID + 6)
    z = rng.standard_normal(len(AU_NAMES) + 2 * NUM_LANDMARKS + 2)
    ident = _ID_LO + (_ID_HI - _ID_LO) * u[: _NUM_ID + 2]
    intensity, roll, yaw, fill = u[_NUM_ID + 2 :].tolist()
    au = np.maximum(class_weights * (0.5 + 0.5 * intensity) + AU_NOISE * z[: len(AU_NAMES)], 0.0)
    coefs = np.concatenate([ident[:_NUM_ID], au])
    shape = MEAN_SHAPE + (coefs @ _BASIS).reshape(-1, 2)
    shape[:NUM_LANDMARKS] += _JITTER * z[len(AU_NAMES) : -2].reshape(-1, 2)
    shape *= ident[_NUM_ID:]
    if frontal:
        roll, yaw, fill, shift = 0.0, 0.0, 0.75, np.zeros(2)
    else:
        roll, yaw = math.radians(-15 + 30 * roll), math.radians(-25 + 50 * yaw)
        fill = 0.6 + 0.3 * fill
        shift = 0.03 * image_size * z[-2:]
    x = shape[:, 0] * math.cos(yaw) + DEPTH * math.sin(yaw)
    y = shape[:, 1] - (1.0 + FOREHEAD_TOP) / 2
    scale = fill * image_size / (1.0 - FOREHEAD_TOP)
    c, s = math.cos(roll) * scale, math.sin(roll) * scale
    pts = np.empty_like(shape)
    pts[:, 0] = c * x - s * y + (image_size - 1) / 2 + shift[0]
    pts[:, 1] = s * x + c * y + (image_size - 1) / 2 + shift[1]
    # keep the 68 landmarks inside the image: the face stands for an aligned crop
    lo, hi = pts[:NUM_LANDMARKS].min(axis=0), pts[:NUM_LANDMARKS].max(axis=0)
    if np.all(hi - lo <= image_size - 1):
        pts += np.minimum(np.maximum(0.0, -lo), (image_size - 1) - hi)
    return FaceGeometry(points=pts, scale=scale, roll=roll, au=au)
