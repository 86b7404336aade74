"""Case images: taken from the mirror folder, the verified local copy, the class pack in use, or the pinned
download, always sha256-checked. Every pinned film (a case's, the series', the drill's) is resolved here.

Layer: cases and concordance. May import: errors, files, images, pack, cases.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from .cases import Case, CaseImage
from .errors import ImageError
from .files import sha256_of, write_atomically
from .images import download, load_image
from .pack import pack_film_path

MIRROR_ENV = "MEDGEMMA_IMAGE_MIRROR"


def mirror_dir() -> Path | None:
    """The folder named by MEDGEMMA_IMAGE_MIRROR, if set."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _from_mirror(image: CaseImage) -> Path | None:
    folder = mirror_dir()
    if folder is None:
        return None
    if not folder.is_dir():
        # Named but missing: say so, rather than fall through to a download and blame the network.
        raise ImageError(f"{MIRROR_ENV} names the folder {folder}, which does not exist; check the path, or unset "
                         f"{MIRROR_ENV} to download the case images.")
    candidate = folder / image.file
    if not candidate.is_file():
        return None
    actual = sha256_of(candidate)
    if actual != image.sha256:
        # A mirror is trusted no more than the network: a wrong file is refused, never used.
        raise ImageError(f"Mirror file {candidate} has sha256 {actual}, not the pinned {image.sha256}; replace it "
                         f"with the file from {image.url}, or unset {MIRROR_ENV}.")
    return candidate


def case_image_path(case: Case) -> Path:
    """A verified local file for the case's image: mirror first, then images/, then the pinned download."""
    if case.image is None:
        raise ImageError(f"Case {case.id} ({case.slug}) has no image of its own; pass your own image instead.")
    return verified_image_path(case.image)


# While a class pack is recorded: every pinned film resolved, by sha256, with its verified file.
_watching: list[dict[str, tuple[CaseImage, Path]]] = []


@contextmanager
def films_resolved() -> Iterator[dict[str, tuple[CaseImage, Path]]]:
    """Collect every pinned film resolved inside the block (what a class pack must carry), by sha256."""
    seen: dict[str, tuple[CaseImage, Path]] = {}
    _watching.append(seen)
    try:
        yield seen
    finally:
        _watching.remove(seen)


def verified_image_path(image: CaseImage) -> Path:
    """A verified file for any pinned film (a case's, the series', the drill's): mirror, images/, pack, download."""
    path = _resolve(image)
    for seen in _watching:
        seen.setdefault(image.sha256, (image, path))
    return path


def _resolve(image: CaseImage) -> Path:
    mirrored = _from_mirror(image)
    if mirrored is not None:
        return mirrored
    local = image.local_path
    if local.is_file():
        if sha256_of(local) == image.sha256:
            return local
        local.unlink()  # a stale or corrupt copy: fetch it again rather than use it
    packed = pack_film_path(image.sha256)  # the class pack checked this film's sha256 when it was opened
    if packed is not None:
        return packed
    data = download(image.url, max_bytes=max(image.size_bytes * 2, 1 << 20))
    actual = hashlib.sha256(data).hexdigest()
    if actual != image.sha256:
        raise ImageError(f"Download of {image.url} has sha256 {actual}, not the pinned {image.sha256}; it was "
                         "refused and nothing was saved. The source may have changed: report it, or set "
                         f"{MIRROR_ENV} to a folder holding the verified file.")
    write_atomically(local, data)
    return local


def load_case_image(case: Case, *, pad_to_square: bool = False) -> Image.Image:
    """The case's verified image as 8-bit RGB."""
    return load_image(case_image_path(case), pad_to_square=pad_to_square)
