"""Occluders placed on a whole batch of faces at once, in torch: sprites through a similarity transform, swapped
regions through a box-to-box map, one bilinear resampling each, composited over the faces.

Faces come as stored (B x S x S x C uint8, C = 1 for grey data sets) with landmarks in their pixels; a grey face
(one channel, or three equal ones) gets a grey occluder. The mask of covered pixels (alpha >= 0.5) decides which
landmarks are hidden, exactly: the ``oracle`` score mode reads that truth.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from oadn.data.ibug68 import JAW, MOUTH_CORNERS, NOSE_BOTTOM
from oadn.data.occluders.bank import SpriteBank
from oadn.data.occluders.swap import feathered_alpha, region_boxes

#: luma weights: a sprite's colour on a grey face
LUMA = (0.299, 0.587, 0.114)
#: the points around each cheek whose mean is where a face's skin colour is read (image-left cheek first)
CHEEKS = (np.concatenate([JAW[2:5], [NOSE_BOTTOM[0], MOUTH_CORNERS[0]]]),
          np.concatenate([JAW[12:15], [NOSE_BOTTOM[-1], MOUTH_CORNERS[1]]]))


def similarity(template: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity w = a z + b (complex a, b per face) taking the template's 68 points to each
    face's B x 68 x 2 points."""
    z = template[:, 0] + 1j * template[:, 1]
    w = points[..., 0] + 1j * points[..., 1]
    zc, wm = z - z.mean(), w.mean(axis=1)
    a = ((w - wm[:, None]) * np.conj(zc)).sum(axis=1) / (np.abs(zc) ** 2).sum()
    return a, wm - a * z.mean()


def jittered(a: np.ndarray, b: np.ndarray, centre: complex, draws: np.ndarray,
             rotate: float, zoom: float, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """The similarity turned by up to ``rotate`` radians and scaled by up to 1 +- ``zoom`` about the template's
    ``centre``, then moved by up to ``shift`` face pixels each way (``draws``: B x 4 uniforms)."""
    turn = np.exp(1j * rotate * (2 * draws[:, 0] - 1)) * (1 + zoom * (2 * draws[:, 1] - 1))
    moved = (2 * draws[:, 2] - 1 + 1j * (2 * draws[:, 3] - 1)) * shift
    a2 = a * turn
    return a2, a * centre + b - a2 * centre + moved


def _grid(a: np.ndarray, b: np.ndarray, size: int, canvas: int) -> torch.Tensor:
    """B x S x S x 2 sampling grid: for each face pixel, where it falls on the canvas (grid_sample's normalised
    coordinates, pixel i's centre at i), as one affine map per face (``affine_grid``).

    A face pixel p goes to the canvas pixel q = M p + t, M and t the inverse of the similarity w = a z + b;
    in normalised coordinates (n = (2p + 1) / S - 1 on the face, (2q + 1) / C - 1 on the canvas) that is
    n_canvas = (S / C) M n_face + (2 / C) (M (S - 1) / 2 + t) + 1 / C - 1."""
    inverse = 1.0 / a  # z = (w - b) / a
    m = np.stack([np.stack([inverse.real, -inverse.imag], -1), np.stack([inverse.imag, inverse.real], -1)], 1)
    t = -inverse * b
    offset = m @ np.full(2, (size - 1) / 2) + np.stack([t.real, t.imag], -1)
    theta = np.concatenate([(size / canvas) * m, ((2 / canvas) * offset + 1 / canvas - 1)[..., None]], axis=-1)
    return F.affine_grid(torch.from_numpy(theta).float(), [len(a), 1, size, size], align_corners=False)


def _is_grey(faces: torch.Tensor) -> torch.Tensor:
    """B bools: one channel, or three equal ones."""
    if faces.shape[1] == 1:
        return torch.ones(faces.shape[0], dtype=torch.bool)
    return (faces.amax(dim=1) == faces.amin(dim=1)).flatten(1).all(dim=1)


def _cheek_colour(faces: torch.Tensor, points: np.ndarray) -> torch.Tensor:
    """B x C mean colour of a small window at each cheek, both cheeks: the face's own skin."""
    size = faces.shape[-1]
    centres = np.stack([points[:, idx].mean(axis=1) for idx in CHEEKS], axis=1)  # B x 2 x 2
    reach = 0.04 * size
    offsets = np.stack(np.meshgrid(np.linspace(-reach, reach, 5), np.linspace(-reach, reach, 5)), -1).reshape(-1, 2)
    where = centres[:, :, None, :] + offsets[None, None]  # B x 2 x 25 x 2
    grid = torch.from_numpy((2 * where + 1) / size - 1).float()
    samples = F.grid_sample(faces, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return samples.mean(dim=(2, 3))


def _composite(faces: torch.Tensor, colour: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """faces (B x C x S x S float) with ``colour`` (B x 3 x S x S) over them at ``alpha`` (B x 1 x S x S);
    grey faces get the colour's luma (computed only where a face is grey)."""
    grey = _is_grey(faces)
    if faces.shape[1] == 1 or grey.all():
        colour = _luma(colour)
        colour = colour if faces.shape[1] == 1 else colour.expand_as(faces)
    elif grey.any():
        colour = torch.where(grey[:, None, None, None], _luma(colour).expand_as(colour), colour)
    return faces * (1 - alpha) + colour * alpha


def _luma(colour: torch.Tensor) -> torch.Tensor:
    return (colour * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def _as_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()


def _as_images(faces: torch.Tensor) -> np.ndarray:
    return faces.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def paste_sprites(images: np.ndarray, points: np.ndarray, bank: SpriteBank, sprite_ids: np.ndarray,
                  similarity_of: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sprites ``sprite_ids`` of ``bank`` on B faces (``images`` as stored, ``points`` B x 68 x 2 in their
    pixels), each placed by its similarity (a, b) from the template; returns the faces and the B x S x S bool
    masks of covered pixels."""
    size = images.shape[1]
    faces = _as_tensor(images)
    a, b = similarity_of
    sprites = bank.sprites[torch.from_numpy(sprite_ids)].float()
    placed = F.grid_sample(sprites, _grid(a, b, size, bank.canvas), mode="bilinear", padding_mode="border",
                           align_corners=False)
    colour, alpha = placed[:, :3], placed[:, 3:] / 255.0
    own = torch.from_numpy(bank.own_skin[sprite_ids])
    if own.any():
        skin = _cheek_colour(faces, points)
        skin = skin.expand(-1, 3) if skin.shape[1] == 1 else skin
        colour = torch.where(own[:, None, None, None], colour / 128.0 * skin[:, :, None, None], colour)
    out = _composite(faces, colour.clamp(0, 255), alpha)
    return _as_images(out), (alpha[:, 0] >= 0.5).numpy()


def swap_regions(images: np.ndarray, points: np.ndarray, donor_images: np.ndarray, donor_points: np.ndarray,
                 kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``kind``'s region of each donor face blended over the same region of each face (all as stored, points in
    their pixels); returns the faces and the masks (empty where either box is unusable)."""
    size = images.shape[1]
    target, ok_target = region_boxes(points, kind, size)
    source, ok_source = region_boxes(donor_points, kind, donor_images.shape[1])
    usable = torch.from_numpy(ok_target & ok_source)
    coords = torch.arange(size, dtype=torch.float64)
    t0, t1 = torch.from_numpy(target[:, :2]).double(), torch.from_numpy(target[:, 2:]).double()
    s0, s1 = torch.from_numpy(source[:, :2]).double(), torch.from_numpy(source[:, 2:]).double()
    span = (t1 - t0).clamp_min(1)
    # box coordinates of each face pixel's centre: 0 at the box's first edge, 1 at its last
    rx = (coords[None] + 0.5 - t0[:, :1]) / span[:, :1]  # B x S
    ry = (coords[None] + 0.5 - t0[:, 1:]) / span[:, 1:]
    inside = ((rx > 0) & (rx < 1))[:, None, :] & ((ry > 0) & (ry < 1))[:, :, None]
    alpha = feathered_alpha((2 * rx - 1)[:, None, :], (2 * ry - 1)[:, :, None]) * inside * usable[:, None, None]
    qx = s0[:, :1] + rx * (s1 - s0)[:, :1] - 0.5  # donor pixel coordinates
    qy = s0[:, 1:] + ry * (s1 - s0)[:, 1:] - 0.5
    donor_size = donor_images.shape[1]
    grid = torch.stack(torch.broadcast_tensors((2 * qx[:, None, :] + 1) / donor_size - 1,
                                               (2 * qy[:, :, None] + 1) / donor_size - 1), dim=-1).float()
    donors = F.grid_sample(_as_tensor(donor_images), grid, mode="bilinear", padding_mode="border",
                           align_corners=False)
    faces = _as_tensor(images)
    donors = donors.expand(-1, 3, -1, -1) if donors.shape[1] == 1 and faces.shape[1] == 3 else donors
    if donors.shape[1] == 3 and faces.shape[1] == 1:
        donors = _luma(donors)
    weight = alpha.float()[:, None]
    out = faces * (1 - weight) + donors * weight
    return _as_images(out), (alpha > 0.5).numpy()


def points_covered(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """B x 68 bools: the pixel under each point (rounded) is covered; points off the image count as uncovered."""
    size = mask.shape[-1]
    xy = np.rint(points).astype(np.int64)
    inside = np.all((xy >= 0) & (xy < size), axis=-1)
    x, y = np.clip(xy[..., 0], 0, size - 1), np.clip(xy[..., 1], 0, size - 1)
    return mask[np.arange(len(mask))[:, None], y, x] & inside
