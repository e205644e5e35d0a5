"""Aligned faces of a prepared split, decoded and warped once, kept as one memory-mapped uint8 array.

Decoding an image and warping it through its alignment transform costs far more than handing a slice of an array
to the loader, and grows with the source image (a RAF-DB or AffectNet photo warped to 224 px). The first read of a
split renders every face once into ``<cache>/faces/<size>px-<key>/`` (``images.npy``: N x S x S x C, one grey
channel when every face is grey; ``meta.json``: faces that could not be decoded). ``key`` hashes everything the
pixels depend on (each image's path, size, mtime, status and transform, the size), so a re-prepared or changed
image makes a new store, never a stale one. Disk: N x S x S x C bytes (FERPlus's 28,709 training faces at 96 px,
grey: 265 MB).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from oadn.common.array_folder import ArrayFolder
from oadn.common.progress import progress_bar
from oadn.data.aligned_frame import warp_image
from oadn.data.images import ImageDecodeError, decode_rgb

#: bump when the rendering of stored faces changes, so older stores are not read as current
STORE_VERSION = 1


def store_key(rows: Sequence[tuple], image_size: int) -> str:
    """Hash of (path, size, mtime, status, transform) per face and the size."""
    digest = hashlib.sha256(f"v{STORE_VERSION}|{image_size}".encode())
    for row in rows:
        digest.update(json.dumps(row, default=str).encode())
    return digest.hexdigest()[:16]


class FaceStore:
    """The rendered faces of one split: ``images`` (memory-mapped) and ``bad`` (position -> why it failed)."""

    def __init__(self, cache_directory: Path, paths: Sequence[str], matrices: Sequence[np.ndarray],
                 unreadable: np.ndarray, image_size: int, key_rows: Sequence[tuple]):
        self.paths, self.matrices, self.unreadable = list(paths), list(matrices), unreadable
        self.image_size = image_size
        self.folder = ArrayFolder(Path(cache_directory) / "faces" / f"{image_size}px-{store_key(key_rows, image_size)}")
        self._images: np.ndarray | None = None
        self.bad: dict[int, str] = {}

    @property
    def key(self) -> str:
        return self.folder.directory.name

    @property
    def images(self) -> np.ndarray:
        """N x S x S x C uint8, rendered on first use."""
        if self._images is None:
            if not self.folder.exists():
                self._render()
            self._images = self.folder.array("images")
            self.bad = {int(k): v for k, v in self.folder.meta()["bad"].items()}
        return self._images

    def _render(self) -> None:
        count, size = len(self.paths), self.image_size
        bad: dict[str, str] = {}
        grey = True
        with self.folder.writing({"images": ((count, size, size, 3), np.uint8)}) as draft:
            images = draft.arrays["images"]
            with progress_bar() as bar:
                task = bar.add_task(f"aligning {count} faces once ({size} px)", total=count, info="")
                for i, (path, matrix) in enumerate(zip(self.paths, self.matrices)):
                    bar.advance(task)
                    if self.unreadable[i]:
                        continue
                    try:
                        face = warp_image(decode_rgb(path), matrix, size)
                    except ImageDecodeError as error:
                        bad[str(i)] = error.reason
                        continue
                    images[i] = face
                    grey = grey and bool((face[..., 0] == face[..., 1]).all() and (face[..., 1] == face[..., 2]).all())
            if grey:
                draft.arrays["images"] = np.ascontiguousarray(images[..., :1])
            draft.meta = {"version": STORE_VERSION, "count": count, "size": size, "grey": grey, "bad": bad}
