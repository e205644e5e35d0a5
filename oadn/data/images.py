"""Decoding any supported image file to 8-bit RGB, the one pixel format faces are made of.

Pillow's own ``convert("RGB")`` clips 16-bit and 32-bit integer pixels at 255, so a 16-bit grayscale PNG or
TIFF would come out all white: those modes are scaled here (full 16-bit range -> 0..255) instead. Float images
have no agreed range and are rejected by name rather than guessed. An image over Pillow's decompression-bomb
limit is an unreadable image like any other (an :class:`ImageDecodeError`), never a crash.
The EXIF orientation tag is applied at decode (a phone JPEG stored sideways with orientation 6 comes out
upright), so detection, alignment and training all see the face the way a viewer shows it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

#: modes Pillow converts to RGB without losing range
_DIRECT_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "La", "RGBa"}
#: 16-bit single-channel modes (scaled by 255 / 65535)
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


class ImageDecodeError(ValueError):
    """An image file that cannot be turned into 8-bit RGB (unreadable, truncated, too large, unsupported mode)."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.reason = reason


def to_rgb(image: Image.Image, path: str | Path) -> np.ndarray:
    """H x W x 3 uint8 RGB of a decoded Pillow image; 16-bit and 32-bit integer pixels are scaled, not clipped."""
    mode = image.mode
    if mode in _DIRECT_MODES:
        return np.asarray(image.convert("RGB"))
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        values = np.asarray(image).astype(np.int64)
        if mode == "I" and (values.min() < 0 or values.max() > 65535):
            raise ImageDecodeError(path, "32-bit integer pixels outside 0..65535 (mode I); save it as 8- or 16-bit")
        gray = np.round(values * (255.0 / 65535.0)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    raise ImageDecodeError(path, f"unsupported pixel mode {mode!r} (expected 8-bit or 16-bit grayscale, palette, "
                                 "RGB(A) or CMYK); convert the file to PNG or JPEG")


def decode_rgb(path: str | Path) -> np.ndarray:
    """H x W x 3 uint8 RGB of an image file; any failure is an :class:`ImageDecodeError` naming the file."""
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as image:  # reads the header only; over twice the limit Pillow raises here
            if limit and image.width * image.height > limit:  # checked here, not by a (process-wide) warnings filter
                raise ImageDecodeError(path, f"larger than Pillow's decompression-bomb limit ({image.width} x "
                                             f"{image.height} pixels, limit {limit})")
            image.load()  # decodes every byte: a truncated file raises here
            return to_rgb(ImageOps.exif_transpose(image), path)
    except ImageDecodeError:
        raise
    except FileNotFoundError:
        raise ImageDecodeError(path, "file not found") from None
    except Image.DecompressionBombError as error:
        raise ImageDecodeError(path, f"larger than Pillow's decompression-bomb limit ({error})") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageDecodeError(path, f"{type(error).__name__}: {error}") from None


def image_extensions() -> set[str]:
    """File extensions (lower case, with the dot) Pillow can open here."""
    return {ext.lower() for ext in Image.registered_extensions()}
