"""The painters of the occluder kinds pasted onto aligned real faces.

Kinds look like FED-RO's natural occluders: dark sunglasses, pale medical masks, skin-toned hands (``hand``:
a flat tone; ``skin-hand``: shaded in the face's own skin colour when pasted), scarves, hair-like strands, plain
rectangles and textured patches (``OBJECT_KINDS``), plus region-targeted variants that put a hand, rectangle or
textured patch on the eyes or mouth, or cover a side of the face from its edge (``REGION_KINDS``). ``random``
picks one of all of them. A painter draws one occluder, its random parameters fixed when it is made, at any
scale; :mod:`oadn.data.occluders.bank` draws them once into sprites on a template face and
:mod:`oadn.data.occluders.paste` places the sprites on each face.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from oadn.data.ibug68 import (
    BROWS,
    CHIN,
    EYES,
    JAW,
    LEFT_EYE,
    MOUTH,
    MOUTH_CORNERS,
    NOSE_BOTTOM,
    NOSE_TIP,
    NOSE_TOP,
    NUM_LANDMARKS,
    RIGHT_EYE,
)
from oadn.data.occluders.canvas import (
    Canvas,
    placed,
    random_pattern,
    random_skin,
    superellipse,
    tinted_grey,
)

OBJECT_KINDS: tuple[str, ...] = ("sunglasses", "mask", "hand", "scarf", "hair", "rect", "texture", "skin-hand")
REGION_KINDS: tuple[str, ...] = ("eyes", "mouth", "upper", "lower", "left", "right")
KINDS: tuple[str, ...] = OBJECT_KINDS + REGION_KINDS + ("random",)
#: kinds drawn in grey shading and coloured by the face's own skin when pasted
OWN_SKIN_KINDS: tuple[str, ...] = ("skin-hand",)
#: the jaw below the ears, where a medical mask's lower edge runs
LOWER_JAW = JAW[3:14]
#: cheek regions, between the jaw, the nose and the mouth corner on each side
_RIGHT_CHEEK = np.concatenate([JAW[2:5], [NOSE_BOTTOM[0], MOUTH_CORNERS[0]]])
_LEFT_CHEEK = np.concatenate([JAW[12:15], [NOSE_BOTTOM[-1], MOUTH_CORNERS[1]]])


@dataclass
class Placement:
    """Where the face is, at the drawing resolution: landmarks, the face's size unit and its hull."""

    points: np.ndarray  # 68 x 2
    unit: float  # distance between the eye centres
    size: int

    def centre(self, idx: np.ndarray) -> np.ndarray:
        return self.points[idx].mean(axis=0)


#: draws one occluder on a canvas in a face's frame at a scale (1 = its natural size)
Painter = Callable[[Canvas, Placement, float], None]


def _sunglasses(rng: np.random.Generator, frame: Placement) -> Painter:
    col = tinted_grey(rng, 5, 45, 10)
    aspect, power = rng.uniform(0.55, 0.8), rng.uniform(2.0, 4.0)
    lenses = frame.points[EYES].reshape(2, 6, 2).mean(axis=1)

    def paint(layer: Canvas, f: Placement, s: float) -> None:
        rx = 0.3 * f.unit * s
        for c in lenses:
            layer.polygon(placed(superellipse(rx, rx * aspect, power), c), col)
        layer.line(lenses, col, 0.06 * f.unit * max(s, 0.3))
        for c, side in zip(lenses, (JAW[0], JAW[-1])):  # temples towards the ears
            layer.line(np.stack([c, f.points[side] + [0, -0.05 * f.unit]]), col, 0.05 * f.unit * max(s, 0.3))

    return paint


def _medical_mask(rng: np.random.Generator, frame: Placement) -> Painter:
    """A pale (sometimes dark) mask from the chin up over mouth and nose; s moves its top edge."""
    col = tinted_grey(rng, 175, 245, 25) if rng.random() < 0.8 else tinted_grey(rng, 15, 60, 10)
    p = frame.points

    def paint(layer: Canvas, f: Placement, s: float) -> None:
        chin = p[LOWER_JAW] + (p[LOWER_JAW] - p[NOSE_TIP]) * 0.08
        top_y = p[CHIN, 1] + (p[NOSE_TOP, 1] - p[CHIN, 1]) * min(s, 2.5) * 0.85
        left = np.array([p[JAW[1], 0] - 0.05 * f.unit, min(top_y + 0.15 * f.unit, p[JAW[3], 1])])
        right = np.array([p[JAW[15], 0] + 0.05 * f.unit, min(top_y + 0.15 * f.unit, p[JAW[13], 1])])
        top = [[p[NOSE_TOP, 0] + 0.3 * f.unit, top_y], [p[NOSE_TOP, 0] - 0.3 * f.unit, top_y]]
        outline = np.concatenate([chin, [right, *top, left]])
        layer.polygon(outline, col)
        pleat = tuple(int(v * 0.85) for v in col)
        for k in (0.3, 0.5, 0.7):  # pleats, inside the outline
            y = top_y + (p[CHIN, 1] - top_y) * k
            layer.line(np.array([[p[JAW[4], 0], y], [p[JAW[12], 0], y]]), pleat, 0.02 * f.unit)
        for side, anchor in ((JAW[1], p[JAW[0]]), (JAW[15], p[JAW[-1]])):  # ear loops
            layer.line(np.stack([p[side], anchor + [0, -0.1 * f.unit]]), (230, 230, 230), 0.03 * f.unit)

    return paint


def _skin_shading(rng: np.random.Generator, frame: Placement) -> Image.Image:
    """Grey shading around mid-grey (128), blurred noise: a hand that takes the face's own skin colour when it is
    pasted (:mod:`oadn.data.occluders.paste` multiplies it by the colour of the face's cheek)."""
    from PIL import ImageFilter

    cells = int(rng.integers(6, 14))
    noise = 128 + 40 * (rng.random((cells, cells)) - 0.5)
    tile = Image.fromarray(noise.astype(np.uint8)).resize((frame.size, frame.size), Image.BICUBIC)
    return tile.filter(ImageFilter.GaussianBlur(rng.uniform(1, 4))).convert("RGB")


def _hand(rng: np.random.Generator, frame: Placement, centre: np.ndarray | None = None,
          own_skin: bool = False) -> Painter:
    """A palm with four fingers and a thumb, pointing any way: skin-toned, or (``own_skin``) grey shading that
    takes the face's own skin colour when pasted."""
    col = (128, 128, 128) if own_skin else tuple(np.minimum(random_skin(rng), 255).astype(int).tolist())
    pattern = _skin_shading(rng, frame) if own_skin else None
    shade = tuple(int(v * 0.8) for v in col)
    where = centre if centre is not None else frame.points[int(rng.integers(0, NUM_LANDMARKS))]
    phi, thumb, length = rng.uniform(0, 2 * np.pi), rng.choice([-1.0, 1.0]), rng.uniform(0.9, 1.2)
    spread = np.linspace(-0.45, 0.45, 4)
    finger = 0.8 + 0.2 * np.sin(np.arange(1, 5))

    def paint(layer: Canvas, f: Placement, s: float) -> None:
        r = 0.35 * f.unit * s
        palm = placed(superellipse(r, 1.15 * r, 2.5), where, phi)
        angles = np.append(phi + np.pi / 2 + spread, phi + np.pi / 2 + 1.4 * thumb)
        dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        base = where + dirs * r * 0.7
        tips = base + dirs * (r * length * np.append(finger, 0.7))[:, None]
        if pattern is not None:
            def shape(d: ImageDraw.ImageDraw) -> None:
                d.polygon([tuple(p) for p in palm], fill=255)
                for k in range(5):
                    d.line([tuple(base[k]), tuple(tips[k])], fill=255, width=max(1, int(round(0.3 * r))), joint="curve")

            layer.textured(shape, pattern)
        else:
            layer.polygon(palm, col)
            for k in range(5):
                layer.line(np.stack([base[k], tips[k]]), col, 0.3 * r)
        for k in range(3):  # creases between fingers
            layer.line(np.stack([(base[k] + base[k + 1]) / 2, (tips[k] + tips[k + 1]) / 2 * 0.3 + where * 0.7]),
                       shade, 0.04 * r)

    return paint


def _scarf(rng: np.random.Generator, frame: Placement) -> Painter:
    """A wide band of cloth from below the chin upwards, textured or plain; s moves its top edge."""
    pattern = random_pattern(rng, frame.size) if rng.random() < 0.6 else None
    col = tinted_grey(rng, 20, 220, 60)
    tilt = rng.uniform(-0.15, 0.15)
    p = frame.points

    def paint(layer: Canvas, f: Placement, s: float) -> None:
        top = p[8, 1] - (p[8, 1] - p[27, 1]) * s
        x0, x1 = p[0, 0] - 0.5 * f.unit, p[16, 0] + 0.5 * f.unit
        dy = tilt * (x1 - x0) / 2
        outline = np.array([[x0, top + dy], [x1, top - dy], [x1, f.size * 1.2], [x0, f.size * 1.2]])
        if pattern is None:
            layer.polygon(outline, col)
        else:
            layer.texture(outline, pattern)

    return paint


def _hair(rng: np.random.Generator, frame: Placement) -> Painter:
    """A band of dark wavy strands falling diagonally across the forehead and an eye; s sets its width."""
    col = np.array(tinted_grey(rng, 10, 90, 20))
    start = frame.centre(BROWS) + [rng.uniform(-0.4, 0.4) * frame.unit, -0.6 * frame.unit]
    side = rng.choice([-1.0, 1.0])
    end = frame.centre(RIGHT_EYE if side < 0 else LEFT_EYE) + [side * 0.6 * frame.unit, 0.5 * frame.unit]
    strands = rng.random((40, 3))

    def paint(layer: Canvas, f: Placement, s: float) -> None:
        width = 0.5 * f.unit * s
        axis = end - start
        normal = np.array([-axis[1], axis[0]]) / (np.linalg.norm(axis) + 1e-6)
        t = np.linspace(0, 1, 12)[:, None]
        for u, phase, tone in strands:
            offset = (u - 0.5) * width
            wave = np.sin(2 * np.pi * (t * 2 + phase)) * 0.04 * f.unit
            curve = start + axis * t + normal * (offset + wave)
            layer.line(curve, tuple(int(v) for v in np.clip(col * (0.7 + 0.6 * tone), 0, 255)),
                       max(0.08 * f.unit, width / 10))

    return paint


def _rect(rng: np.random.Generator, frame: Placement, centre: np.ndarray | None = None,
          aspect: float | None = None) -> Painter:
    col = tinted_grey(rng, 0, 255, 70)
    where = (centre if centre is not None
             else frame.points[int(rng.integers(0, NUM_LANDMARKS))] + rng.normal(0, 0.2, 2) * frame.unit)
    ratio = aspect if aspect is not None else rng.uniform(0.5, 2.0)
    spin = rng.uniform(-0.3, 0.3)

    def paint(layer: Canvas, f: Placement, s: float) -> None:
        r = 0.4 * f.unit * s
        layer.polygon(placed(superellipse(r * np.sqrt(ratio), r / np.sqrt(ratio), 40.0), where, spin), col)

    return paint


def _texture(rng: np.random.Generator, frame: Placement, centre: np.ndarray | None = None,
             aspect: float | None = None) -> Painter:
    pattern = random_pattern(rng, frame.size)
    where = (centre if centre is not None
             else frame.points[int(rng.integers(0, NUM_LANDMARKS))] + rng.normal(0, 0.2, 2) * frame.unit)
    ratio = aspect if aspect is not None else rng.uniform(0.5, 2.0)
    power, spin = rng.uniform(2.0, 8.0), rng.uniform(-0.5, 0.5)

    def paint(layer: Canvas, f: Placement, s: float) -> None:
        r = 0.4 * f.unit * s
        layer.texture(placed(superellipse(r * np.sqrt(ratio), r / np.sqrt(ratio), power), where, spin), pattern)

    return paint


def _targeted(rng: np.random.Generator, frame: Placement, region: np.ndarray, aspect: float) -> Painter:
    """A hand, rectangle or textured patch centred on a facial region."""
    centre = frame.centre(region) + rng.normal(0, 0.05, 2) * frame.unit
    choice = int(rng.integers(0, 3))
    if choice == 0:
        return _hand(rng, frame, centre)
    return (_rect if choice == 1 else _texture)(rng, frame, centre, aspect)


def _side(rng: np.random.Generator, frame: Placement, direction: np.ndarray) -> Painter:
    """Everything beyond a line moving in from the face's edge (upper/lower/left/right): plain or textured."""
    pattern = random_pattern(rng, frame.size) if rng.random() < 0.5 else None
    col = tinted_grey(rng, 0, 255, 60)
    p = frame.points
    along = p @ direction
    inner, outer = along.min(), along.max()  # the face spans [inner, outer] along direction
    big = 2.0 * frame.size

    def paint(layer: Canvas, f: Placement, s: float) -> None:
        edge = outer - (outer - inner) * s
        normal = np.array([-direction[1], direction[0]])
        c = direction * edge
        outline = np.array([c + normal * big, c + normal * big + direction * big, c - normal * big + direction * big,
                            c - normal * big])
        if pattern is None:
            layer.polygon(outline, col)
        else:
            layer.texture(outline, pattern)

    return paint


#: the side kinds: which way the covered part of the face lies
_SIDES = {"upper": (0.0, -1.0), "lower": (0.0, 1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}
#: kind -> how its painter is made from the drawing's generator and the face's frame
_PAINTERS: dict[str, Callable[[np.random.Generator, Placement], Painter]] = {
    "sunglasses": _sunglasses,
    "mask": _medical_mask,
    "hand": _hand,
    "skin-hand": partial(_hand, own_skin=True),
    "scarf": _scarf,
    "hair": _hair,
    "rect": _rect,
    "texture": _texture,
    "eyes": partial(_targeted, region=EYES, aspect=2.5),
    "mouth": partial(_targeted, region=MOUTH, aspect=1.6),
    **{side: partial(_side, direction=np.array(direction)) for side, direction in _SIDES.items()},
}


def painter(kind: str, rng: np.random.Generator, frame: Placement) -> Painter:
    """One occluder of ``kind`` with its random parameters drawn from ``rng``, to draw at any scale."""
    if kind not in _PAINTERS:
        raise ValueError(f"unknown occluder kind {kind!r}; expected one of {', '.join(KINDS)}")
    return _PAINTERS[kind](rng, frame)
