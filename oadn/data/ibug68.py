"""The iBUG 68-point landmark layout, stated once: which indices are which part of the face, and how a
horizontal flip renumbers them.

Indices are 0-based. "Right" and "left" are the subject's: the subject's right eye (36-41) is on the image's
left. Each part is an index array, so it indexes numpy arrays (``points[MOUTH]``) and lists alike.
"""

from __future__ import annotations

import numpy as np

NUM_LANDMARKS = 68

JAW = np.arange(0, 17)
RIGHT_BROW, LEFT_BROW = np.arange(17, 22), np.arange(22, 27)
BROWS = np.arange(17, 27)
NOSE_BRIDGE, NOSE_BOTTOM = np.arange(27, 31), np.arange(31, 36)
NOSE_TOP, NOSE_TIP = 27, 30
RIGHT_EYE, LEFT_EYE = np.arange(36, 42), np.arange(42, 48)
EYES = np.arange(36, 48)
MOUTH = np.arange(48, 68)
OUTER_LIPS, INNER_LIPS = np.arange(48, 60), np.arange(60, 68)
UPPER_OUTER_LIP, LOWER_OUTER_LIP = np.arange(49, 54), np.arange(55, 60)
UPPER_INNER_LIP, LOWER_INNER_LIP = np.arange(61, 64), np.arange(65, 68)
LOWER_LIP = np.concatenate([LOWER_OUTER_LIP, LOWER_INNER_LIP])
UPPER_LIDS = np.array([37, 38, 43, 44])
LOWER_LIDS = np.array([40, 41, 46, 47])
#: the outer (48, 54) and inner (60, 64) mouth corners, image-left first
MOUTH_CORNERS = np.array([48, 54, 60, 64])
#: the outer lip points next to the corners
NEAR_MOUTH_CORNERS = np.array([49, 53, 55, 59])
CHIN = 8

#: index pairs a horizontal flip swaps (left/right identities)
MIRROR_PAIRS = (
    [(i, 16 - i) for i in range(8)]  # jaw
    + [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22)]  # brows
    + [(31, 35), (32, 34)]  # nose bottom
    + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
    + [(60, 64), (61, 63), (65, 67)]  # inner lips
)


def _mirror_permutation() -> np.ndarray:
    perm = np.arange(NUM_LANDMARKS)
    for a, b in MIRROR_PAIRS:
        perm[a], perm[b] = b, a
    return perm


#: ``flipped[i] = original[FLIP_PERMUTATION[i]]`` after mirroring x.
FLIP_PERMUTATION: np.ndarray = _mirror_permutation()


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """MTCNN-style five points from 68: eye centres, nose tip, outer mouth corners (image left first)."""
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return np.stack([xy[RIGHT_EYE].mean(0), xy[LEFT_EYE].mean(0), xy[NOSE_TIP], xy[MOUTH_CORNERS[0]],
                     xy[MOUTH_CORNERS[1]]])
