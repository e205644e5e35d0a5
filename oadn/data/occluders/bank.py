"""Occluder sprites: each kind drawn once per seed on a template face, as RGBA images any face can receive.

Painting an occluder per face per epoch (PIL at four times the face's resolution, with a bisection over its
scale for a requested area) cost more than the training step it fed. Here every painter of
:mod:`oadn.data.occluders.real` draws ``SPRITES_PER_KIND`` occluders once, on a template face (the synthetic
data set's mean shape, placed as detected faces sit in FERPlus's crops on average) inside a canvas with a
margin, at the scale that covers the requested share of the template's face (the convex hull of its 68
landmarks; a bisection per sprite, not per face), or at a random scale for ``area=None``. Placing a sprite on a
face is then a similarity transform from the template's landmarks to the face's and one bilinear resampling
(:mod:`oadn.data.occluders.paste`), batched.

Sprites keep un-premultiplied colour and coverage (alpha) as uint8; where a kind takes the face's own skin
colour (``skin-hand``), its colour is grey shading around 128. A bank is a pure function of its
:class:`BankSpec`, built once per process (a few seconds; docs/occlusion.md has the figures).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from oadn.common.seeding import rng_for
from oadn.data.ibug68 import LEFT_EYE, NUM_LANDMARKS, RIGHT_EYE
from oadn.data.occluders.canvas import Canvas, face_hull
from oadn.data.occluders.real import KINDS, OWN_SKIN_KINDS, Placement, painter
from oadn.data.synthetic.shape import MEAN_SHAPE

#: occluders drawn per kind and seed: the variety a face draws from (placement adds more for training)
SPRITES_PER_KIND = 48
#: the largest face a bank draws on; larger faces get sprites enlarged by the resampling (smooth shapes)
MAX_FACE_SIZE = 128
#: the template face in a unit square: MEAN_SHAPE (jaw half-width 1) scaled and centred as FERPlus's detected
#: faces sit in their crops on average
TEMPLATE_SCALE, TEMPLATE_CENTRE = 0.443, (0.497, 0.519)
#: margin around the template face on each side, as a share of its frame: side kinds reach past the face
MARGIN = 0.25
#: the scale a painter's occluder is drawn at for area=None (a random size), as in training augmentation
RANDOM_SCALE = (0.5, 1.5)


@dataclass(frozen=True)
class BankSpec:
    """What a bank's sprites are a pure function of."""

    kinds: tuple[str, ...]  # painted kinds, "random" expanded
    #: share of the template's face hull each sprite covers: one share, a (low, high) range each sprite draws its
    #: own share from, or None for a random scale
    area: float | tuple[float, float] | None
    seed: int
    face_size: int  # the template face's side in sprite pixels


@dataclass
class SpriteBank:
    """``sprites``: K x 4 x C x C uint8 (RGB, alpha), ``SPRITES_PER_KIND`` per kind in ``spec.kinds`` order;
    ``template``: the template's 68 landmarks in sprite pixels; ``own_skin``: K bools."""

    spec: BankSpec
    sprites: torch.Tensor
    template: np.ndarray
    own_skin: np.ndarray

    @property
    def canvas(self) -> int:
        return int(self.sprites.shape[-1])

    def sprite_ids(self, kind_index: np.ndarray, draw: np.ndarray) -> np.ndarray:
        """Sprite per face: kind ``kind_index`` (into ``spec.kinds``), the ``draw``-th share (uniforms) of its
        sprites."""
        pick = np.minimum((draw * SPRITES_PER_KIND).astype(np.int64), SPRITES_PER_KIND - 1)
        return kind_index.astype(np.int64) * SPRITES_PER_KIND + pick


def template_points(face_size: int) -> tuple[np.ndarray, int]:
    """The template's 68 landmarks in pixels of a canvas holding a ``face_size`` face plus margins, and the
    canvas side."""
    margin = int(round(MARGIN * face_size))
    unit = MEAN_SHAPE[:NUM_LANDMARKS] * TEMPLATE_SCALE + np.array(TEMPLATE_CENTRE)
    return unit * face_size - 0.5 + margin, face_size + 2 * margin


def supersample(canvas: int) -> int:
    """How many times larger than the canvas a sprite is drawn (its edges antialiased by the reduction)."""
    return 4 if canvas <= 128 else 2


def _frame(points: np.ndarray, canvas: int, factor: int) -> Placement:
    big = points * factor + (factor - 1) / 2
    unit = float(np.linalg.norm(big[RIGHT_EYE].mean(axis=0) - big[LEFT_EYE].mean(axis=0)))
    return Placement(big, unit, canvas * factor)


def _render(paint, frame: Placement, canvas: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(C x C x 3 un-premultiplied colour, C x C coverage), both float32 in [0, 255] and [0, 1]."""
    layer = Canvas.blank(frame.size)
    paint(layer, frame, scale)
    alpha = np.asarray(layer.coverage.resize((canvas, canvas), Image.BOX), dtype=np.float32) / 255.0
    colour = np.asarray(layer.colour.resize((canvas, canvas), Image.BOX), dtype=np.float32)
    return colour / np.maximum(alpha, 1 / 255.0)[..., None], alpha


def _scale_for(area: float, paint, frame: Placement, points: np.ndarray, canvas: int) -> float:
    """The painter's scale whose occluder covers ``area`` of the template's face hull (bisection; ``paint`` is
    the painter made for ``frame``, drawn at twice the canvas: the count of covered pixels is all it needs)."""
    hull = face_hull(points, canvas)
    hull_area = max(int(hull.sum()), 1)

    def coverage(scale: float) -> float:
        return float(((_render(paint, frame, canvas, scale)[1] >= 0.5) & hull).sum() / hull_area)

    lo, hi = 0.0, 2.0
    while coverage(hi) < area and hi < 16:  # a thin kind (hair, sunglasses) needs a larger scale
        lo, hi = hi, 2 * hi
    for _ in range(8):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if coverage(mid) < area else (lo, mid)
    return hi


def draw_sprite(kind: str, area: float | tuple[float, float] | None, rng: np.random.Generator,
                face_size: int) -> np.ndarray:
    """One sprite of ``kind`` (4 x C x C uint8: colour, alpha) covering ``area`` of the template's face (see
    :attr:`BankSpec.area`)."""
    if isinstance(area, tuple):
        area = float(rng.uniform(*area))
    points, canvas = template_points(face_size)
    factor = supersample(canvas)
    frame = _frame(points, canvas, factor)
    if area is None:
        paint = painter(kind, rng, frame)
        scale = float(rng.uniform(*RANDOM_SCALE))
    else:  # the same occluder, its parameters drawn from the same state, measured on a coarser drawing
        coarse = _frame(points, canvas, 2)
        scale = _scale_for(area, painter(kind, copy.deepcopy(rng), coarse), coarse, points, canvas)
        paint = painter(kind, rng, frame)
    colour, alpha = _render(paint, frame, canvas, scale)
    rgba = np.concatenate([np.clip(colour, 0, 255), alpha[..., None] * 255.0], axis=-1)
    return np.round(rgba).astype(np.uint8).transpose(2, 0, 1)


def painted_kinds(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds a bank draws for ``kinds``: ``random`` stands for every kind but itself."""
    out = [k for kind in kinds for k in (KINDS[:-1] if kind == "random" else (kind,))]
    return tuple(dict.fromkeys(out))


@lru_cache(maxsize=4)
def sprite_bank(spec: BankSpec) -> SpriteBank:
    """The bank of ``spec``, drawn once per process (the four most recent are kept)."""
    shares = spec.area if isinstance(spec.area, tuple) else () if spec.area is None else (spec.area,)
    if not all(0.0 < share < 1.0 for share in shares):
        raise ValueError(f"occluder area must be a share of the face in (0, 1), got {spec.area}")
    unknown = [k for k in spec.kinds if k not in KINDS[:-1]]
    if unknown:
        raise ValueError(f"unknown occluder kind(s) {unknown}; expected some of {', '.join(KINDS)}")
    sprites = [draw_sprite(kind, spec.area, rng_for(spec.seed, 0, "sprite", kind, _area_key(spec.area), i),
                           spec.face_size)
               for kind in spec.kinds for i in range(SPRITES_PER_KIND)]
    points, _ = template_points(spec.face_size)
    own = np.repeat([kind in OWN_SKIN_KINDS for kind in spec.kinds], SPRITES_PER_KIND)
    return SpriteBank(spec, torch.from_numpy(np.stack(sprites)), points, own)


def bank_face_size(stored_size: int) -> int:
    """The template face's side for faces stored at ``stored_size`` px: the same, up to MAX_FACE_SIZE."""
    return int(min(stored_size, MAX_FACE_SIZE))


def _area_key(area: float | tuple[float, float] | None) -> str:
    if isinstance(area, tuple):
        return f"{area[0]:.6f}-{area[1]:.6f}"
    return "any" if area is None else f"{area:.6f}"


def template_hull_share(sprite: np.ndarray, face_size: int) -> float:
    """The share of the template's face hull a sprite covers (alpha >= 0.5): what ``area`` asked for."""
    points, canvas = template_points(face_size)
    hull = face_hull(points, canvas)
    return float(((sprite[3] >= 128) & hull).sum() / max(hull.sum(), 1))

