"""Pixels: any picture or array as 8-bit RGB, intensity windows, and the square padding chest films get.

Layer: image input, bottom. May import: errors.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from .errors import ImageError

# Pillow's own bomb guard is a warning up to 2x this and an error beyond; we refuse at the limit.
# 100 megapixels is far above any radiograph (a 43 x 43 cm detector at 100 um is ~18 MP).
MAX_PIXELS = 100_000_000


def window_to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Clip to [low, high] and scale to 0-255, rounded, exactly as Google's CT notebook does."""
    # float32 and this order of operations reproduce the notebook's values bit for bit.
    scaled = np.clip(values, low, high).astype(np.float32)
    scaled -= np.float32(low)
    scaled /= np.float32(high - low)
    scaled *= np.float32(255.0)
    return np.rint(scaled).astype(np.uint8)


def min_max_to_uint8(values: np.ndarray) -> np.ndarray:
    """Stretch the finite values' own range to 0-255 (all black when there is no range); NaN counts as the minimum."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=np.uint8)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return window_to_uint8(np.nan_to_num(values, nan=low, posinf=high, neginf=low), low, high)


def to_rgb8(image: Image.Image, name: str = "image") -> Image.Image:
    """Any PIL mode (grey, 16-bit, float, palette, RGBA, CMYK, LA) to 8-bit RGB."""
    image = ImageOps.exif_transpose(image)  # phone photos carry their rotation in EXIF
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit and float greyscale: stretch the used range to 0-255 rather than clip at 255.
        return Image.fromarray(_stretched(np.asarray(image), name)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become black, like the zero padding radiographs get.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _stretched(values: np.ndarray, name: str) -> np.ndarray:
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if not np.isfinite(values.astype(np.float64)).any():
        raise ImageError(f"Image {name} holds no finite pixel values; check the file or array.")
    return min_max_to_uint8(values)


def from_array(array: np.ndarray, name: str = "array") -> Image.Image:
    """A numpy array (H x W, H x W x 1/3/4; uint8, uint16, int or float) as 8-bit RGB."""
    if array.ndim not in (2, 3) or array.size == 0:
        raise ImageError(f"Image {name} has shape {array.shape}; give an H x W or H x W x C array.")
    if array.ndim == 3 and array.shape[-1] not in (1, 3, 4):
        raise ImageError(f"Image {name} has {array.shape[-1]} channels; give 1, 3 or 4 channels last.")
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise ImageError(f"Image {name} has {array.shape[0]} x {array.shape[1]} pixels, over the "
                         f"{MAX_PIXELS:,} limit; downscale it first.")
    if array.dtype == np.uint8:
        data = array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array
    elif array.dtype == bool:
        data = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.number):
        data = _stretched(array, name)
    else:
        raise ImageError(f"Image {name} has dtype {array.dtype}; give a numeric array.")
    return to_rgb8(Image.fromarray(np.ascontiguousarray(data)), name)


def pad_square(image: Image.Image) -> Image.Image:
    """Centre the image on a black square, as Google's chest X-ray notebooks do before the processor."""
    width, height = image.size
    side = max(width, height)
    if width == height:
        return image
    canvas = Image.new(image.mode, (side, side), 0)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas
