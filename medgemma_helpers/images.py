"""Image input: any path, URL, PIL image, array or DICOM file becomes a checked 8-bit RGB PIL image; and the one
place that decides how an image is prepared for MedGemma (`model_image`).

Layer: image input, top. May import: errors, pixels, dicom.
"""

from __future__ import annotations

import http.client
import io
import os
import re
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .dicom import read_dicom_image
from .errors import ImageError
from .pixels import MAX_PIXELS, from_array, pad_square, to_rgb8

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
DOWNLOAD_TIMEOUT_S = 30
DICOM_SUFFIXES = (".dcm", ".dicom")


def _describe(source: Any) -> str:
    """A short, safe name for the input in error messages (never a whole array or a data URL)."""
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        return text if len(text) <= 200 else text[:200] + "..."
    if isinstance(source, Image.Image):
        return "given as a PIL image"
    if isinstance(source, np.ndarray):
        return "given as a numpy array"
    if isinstance(source, (bytes, bytearray)):
        return "given as bytes"
    return f"given as a {type(source).__name__}"


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
                return opened.copy()  # to_rgb8 converts every mode, palettes with a transparent colour too
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
        raise ImageError(f"Download of {url} failed with HTTP {error.code}; check the address or use a local "
                         "copy.") from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise ImageError(f"Download of {url} failed ({reason}); check the network, or set MEDGEMMA_IMAGE_MIRROR "
                         "to a folder that holds the images.") from None
    if len(data) > max_bytes:
        raise ImageError(f"Download of {url} is over {max_bytes // (1024 * 1024)} MB; refusing it.")
    return data


# How MedGemma gets an image, by what the image is: the one place this is decided. Google's chest X-ray
# notebooks centre a film on a black square before the processor resizes it to 896 x 896, and the model's boxes
# (localisation) are relative to that square; other images go as they are. CT and MRI volumes are prepared
# slice by slice in dicom.ct_windows and dicom.mri_windows, as Google's CT notebook does.
_SQUARE_PADDED = re.compile(r"\b(?:chest|thorax|thoracic|radiograph|radiography|x-?ray|cxr|plain film)\b",
                            re.IGNORECASE)


def pads_to_square(modality: str) -> bool:
    """True for a chest radiograph (by its modality's words): MedGemma gets it padded to a centred square."""
    return bool(_SQUARE_PADDED.search(modality or ""))


def model_image(image: Any, *, modality: str) -> Image.Image:
    """The image as MedGemma is sent it: loaded as 8-bit RGB and, for a chest radiograph, padded to a square."""
    picture = image if isinstance(image, Image.Image) and image.mode == "RGB" else load_image(image)
    return pad_square(picture) if pads_to_square(modality) else picture


def load_image(source: Any, *, pad_to_square: bool = False, **dicom_options: Any) -> Image.Image:
    """Load a path, URL, PIL image, numpy array or DICOM file as an 8-bit RGB PIL image."""
    name = _describe(source)
    if not isinstance(source, (str, os.PathLike)) or _is_url(source):
        _refuse_dicom_options(dicom_options, name)
    if isinstance(source, Image.Image):
        width, height = source.size
        if width * height == 0 or width * height > MAX_PIXELS:
            raise ImageError(f"Image {name} is {width} x {height} pixels; give an image with 1 to {MAX_PIXELS:,} "
                             "pixels.")
        try:
            image = to_rgb8(source, name)
        except ImageError:
            raise  # already names the image and says what to do
        except (OSError, SyntaxError, ValueError) as error:  # a lazily opened, truncated file fails here
            raise ImageError(f"Image {name} could not be decoded ({error}); load the file again.") from None
    elif isinstance(source, np.ndarray):
        image = from_array(source, name)
    elif _is_url(source):
        image = _decoded_bytes(download(source), name)
    elif isinstance(source, (str, os.PathLike)):
        if str(source).strip() == "":
            raise ImageError("Image path is empty; give a file path, URL, PIL image or numpy array.")
        try:
            image = _load_file(Path(source).expanduser(), name, dicom_options)
        except OSError as error:  # a name too long for the file system, a file we may not read
            raise ImageError(f"Image {name} could not be read ({error.strerror or error}); check the path and "
                             "its permissions.") from None
    elif isinstance(source, (bytes, bytearray)):
        image = _decoded_bytes(bytes(source), name)
    else:
        raise ImageError(f"Image {name}: cannot load this type; give a file path, URL, PIL image or numpy array.")
    return pad_square(image) if pad_to_square else image


def _decoded_bytes(data: bytes, name: str) -> Image.Image:
    """Downloaded or given bytes: refused when empty, else decoded like a file."""
    if not data:
        raise ImageError(f"Image {name} is empty (0 bytes); download or export it again.")
    return _decoded_rgb8(io.BytesIO(data), name)


def _load_file(path: Path, name: str, dicom_options: dict[str, Any]) -> Image.Image:
    """A file on disk: DICOM by suffix or marker, anything else through Pillow."""
    if not path.exists():
        raise ImageError(f"Image {name} does not exist; check the path (working folder: {Path.cwd()}).")
    if path.is_dir():
        raise ImageError(f"Image {name} is a folder, not a file; give one image file "
                         "(for a CT series folder use mh.load_ct_series).")
    if path.stat().st_size == 0:
        raise ImageError(f"Image {name} is empty (0 bytes); download or export it again.")
    if _is_dicom_file(path):
        return read_dicom_image(path, **dicom_options)  # pydicom is imported only for DICOM input
    _refuse_dicom_options(dicom_options, name)
    with path.open("rb") as handle:
        return _decoded_rgb8(handle, name)


def _refuse_dicom_options(options: dict[str, Any], name: str) -> None:
    if options:
        raise ImageError(f"Image {name}: options {sorted(options)} apply to DICOM files only; remove them.")
