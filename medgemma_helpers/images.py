"""Image input: any path, URL, PIL image or array becomes a checked 8-bit RGB PIL image."""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

# Pillow's own bomb guard is a warning up to 2x this and an error beyond; we refuse at the limit.
# 100 megapixels is far above any radiograph (a 43 x 43 cm detector at 100 um is ~18 MP).
MAX_PIXELS = 100_000_000
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
DOWNLOAD_TIMEOUT_S = 30
DICOM_SUFFIXES = (".dcm", ".dicom")


def _describe(source: Any) -> str:
    """A short, safe name for the input in error messages (never a whole array or a data URL)."""
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        return text if len(text) <= 200 else text[:200] + "..."
    return f"a {type(source).__name__} object"


def _is_url(source: Any) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def _is_dicom_file(path: Path) -> bool:
    """DICOM by suffix or by the 'DICM' marker after the 128-byte preamble."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def to_rgb8(image: Image.Image, name: str = "image") -> Image.Image:
    """Any PIL mode (grey, 16-bit, float, palette, RGBA, CMYK, LA) to 8-bit RGB."""
    image = ImageOps.exif_transpose(image)  # phone photos carry their rotation in EXIF
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit and float greyscale: stretch the used range to 0-255 rather than clip at 255.
        return Image.fromarray(_stretch_to_uint8(np.asarray(image), name)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become black, like the zero padding radiographs get.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _stretch_to_uint8(values: np.ndarray, name: str) -> np.ndarray:
    values = values.astype(np.float64)
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ImageError(f"Image {name} holds no finite pixel values; check the file or array.")
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (np.nan_to_num(values, nan=low) - low) / (high - low) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


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
        data = _stretch_to_uint8(array, name)
    else:
        raise ImageError(f"Image {name} has dtype {array.dtype}; give a numeric array.")
    return to_rgb8(Image.fromarray(np.ascontiguousarray(data)), name)


def _decoded_rgb8(stream: Any, name: str) -> Image.Image:
    """Open, decode and convert to 8-bit RGB; a damaged file fails as an ImageError naming it."""
    image = _open_stream(stream, name)
    try:
        return to_rgb8(image, name)
    except ImageError:
        raise
    except Exception as error:  # noqa: BLE001 - e.g. a damaged EXIF block read by exif_transpose
        raise ImageError(f"Image {name} could not be converted ({type(error).__name__}: {error}); the file may be "
                         "corrupt. Download or export it again.") from None


def _open_stream(stream: Any, name: str) -> Image.Image:
    """Open and fully decode, turning every Pillow failure into an ImageError naming the input."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(stream) as opened:
                width, height = opened.size
                if width * height > MAX_PIXELS:
                    raise ImageError(f"Image {name} is {width} x {height} pixels, over the {MAX_PIXELS:,} pixel "
                                     "limit (a possible decompression bomb); downscale it before loading.")
                opened.load()  # decode now, so a truncated file fails here and not later
                return opened.copy() if opened.mode != "P" else opened.convert("RGBA" if "transparency" in opened.info else "RGB")
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"Image {name} is too large to decode safely (a possible decompression bomb); "
                             "downscale it before loading.") from None
        except UnidentifiedImageError:
            raise ImageError(f"Image {name} is not a recognised image format (PNG, JPEG, TIFF, BMP, WebP, "
                             "or DICOM by .dcm suffix); export it as PNG or JPEG.") from None
        except Exception as error:  # noqa: BLE001 - Pillow's decoders fail on damaged bytes in many ways
            # (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError...): all mean a damaged file.
            raise ImageError(f"Image {name} could not be decoded ({type(error).__name__}: {error}); the file may be "
                             "truncated or corrupt. Download or export it again.") from None


def download(url: str, *, max_bytes: int = MAX_DOWNLOAD_BYTES, timeout: float = DOWNLOAD_TIMEOUT_S) -> bytes:
    """Fetch a URL into memory with a size cap, raising ImageError naming the URL on failure."""
    request = urllib.request.Request(url, headers={"User-Agent": "medgemma-case-notebooks"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            data = response.read(max_bytes + 1)
        if declared and declared.isdigit() and len(data) < int(declared):
            raise ImageError(f"Download of {url} was interrupted ({len(data)} of {declared} bytes); nothing was saved. "
                             "Run it again.")
    except ImageError:
        raise
    except urllib.error.HTTPError as error:
        raise ImageError(f"Download of {url} failed with HTTP {error.code}; check the address or use a local copy.") from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise ImageError(f"Download of {url} failed ({reason}); check the network, or set MEDGEMMA_IMAGE_MIRROR "
                         "to a folder that holds the images.") from None
    if len(data) > max_bytes:
        raise ImageError(f"Download of {url} is over {max_bytes // (1024 * 1024)} MB; refusing it.")
    return data


def sha256_of(path: Path) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename, so no partial file is ever seen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def pad_square(image: Image.Image) -> Image.Image:
    """Centre the image on a black square, as Google's chest X-ray notebooks do before the processor."""
    width, height = image.size
    side = max(width, height)
    if width == height:
        return image
    canvas = Image.new(image.mode, (side, side), 0)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def load_image(source: Any, *, pad_to_square: bool = False, **dicom_options: Any) -> Image.Image:
    """Load a path, URL, PIL image, numpy array or DICOM file as an 8-bit RGB PIL image."""
    name = _describe(source)
    if not isinstance(source, (str, os.PathLike)) or _is_url(source):
        _refuse_dicom_options(dicom_options, name)
    if isinstance(source, Image.Image):
        width, height = source.size
        if width * height == 0 or width * height > MAX_PIXELS:
            raise ImageError(f"Image {name} is {width} x {height} pixels; give an image with 1 to {MAX_PIXELS:,} pixels.")
        try:
            image = to_rgb8(source, name)
        except (OSError, SyntaxError, ValueError) as error:  # a lazily opened, truncated file fails here
            raise ImageError(f"Image {name} could not be decoded ({error}); load the file again.") from None
    elif isinstance(source, np.ndarray):
        image = from_array(source, name)
    elif _is_url(source):
        data = download(source)
        if not data:
            raise ImageError(f"Image {name} is empty (0 bytes); download or export it again.")
        image = _decoded_rgb8(io.BytesIO(data), name)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if str(source).strip() == "":
            raise ImageError("Image path is empty; give a file path, URL, PIL image or numpy array.")
        if not path.exists():
            raise ImageError(f"Image {name} does not exist; check the path (working folder: {Path.cwd()}).")
        if path.is_dir():
            raise ImageError(f"Image {name} is a folder, not a file; give one image file "
                             "(for a CT series folder use mh.load_ct_series).")
        if path.stat().st_size == 0:
            raise ImageError(f"Image {name} is empty (0 bytes); download or export it again.")
        if _is_dicom_file(path):
            from .dicom import read_dicom_image  # pydicom is needed only for DICOM input

            image = read_dicom_image(path, **dicom_options)
        else:
            _refuse_dicom_options(dicom_options, name)
            with path.open("rb") as handle:
                image = _decoded_rgb8(handle, name)
    elif isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError("Image given as bytes is empty (0 bytes); download or export it again.")
        image = _decoded_rgb8(io.BytesIO(bytes(source)), "given as bytes")
    else:
        raise ImageError(f"Image {name}: cannot load this type; give a file path, URL, PIL image or numpy array.")
    return pad_square(image) if pad_to_square else image


def _refuse_dicom_options(options: dict[str, Any], name: str) -> None:
    if options:
        raise ImageError(f"Options {sorted(options)} apply to DICOM files only; remove them for {name}.")
