"""load_image: every readable input becomes 8-bit RGB; every unreadable one is an ImageError naming it."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import medgemma_helpers as mh


def _save(image: Image.Image, path, **options):
    image.save(path, **options)
    return path


def _png_header_only(path, width: int, height: int):
    """A PNG whose header claims a huge size: what a decompression bomb looks like before decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


def _assert_rgb8(image: Image.Image, size: tuple[int, int]):
    assert image.mode == "RGB" and image.size == size
    assert np.asarray(image).dtype == np.uint8


def test_unusual_but_valid_inputs_become_rgb8(tmp_path):
    gradient16 = (np.arange(64 * 32, dtype=np.uint16).reshape(32, 64) * 31).astype(np.uint16)
    cases = {
        "grey16.png": Image.fromarray(gradient16),
        "palette.png": Image.new("RGB", (40, 30), (200, 10, 10)).convert("P", palette=Image.Palette.ADAPTIVE),
        "cmyk.jpg": Image.new("CMYK", (40, 30), (0, 255, 255, 0)),
        "rgba.png": Image.new("RGBA", (40, 30), (10, 200, 10, 128)),
        "grey-alpha.png": Image.new("LA", (40, 30), (120, 255)),
        "strip.png": Image.new("L", (4000, 1), 90),
        "grey.jpg": Image.new("L", (40, 30), 77),
    }
    for name, image in cases.items():
        loaded = mh.load_image(_save(image, tmp_path / name))
        _assert_rgb8(loaded, image.size)
    # 16-bit is stretched over its own range, not clipped: darkest -> 0, brightest -> 255.
    grey16 = np.asarray(mh.load_image(tmp_path / "grey16.png"))[..., 0]
    assert grey16.min() == 0 and grey16.max() == 255
    red = np.asarray(mh.load_image(tmp_path / "cmyk.jpg"))[15, 20]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_arrays_and_pil_images(tmp_path):
    _assert_rgb8(mh.load_image(np.zeros((20, 30), dtype=np.uint8)), (30, 20))
    _assert_rgb8(mh.load_image(np.random.default_rng(0).random((20, 30, 3))), (30, 20))
    hu = np.linspace(-1000, 1000, 600, dtype=np.float32).reshape(20, 30)
    as_image = np.asarray(mh.load_image(hu))[..., 0]
    assert as_image[0, 0] == 0 and as_image[-1, -1] == 255
    _assert_rgb8(mh.load_image(Image.new("I;16", (12, 10))), (12, 10))
    _assert_rgb8(mh.load_image(str(_save(Image.new("L", (5, 5)), tmp_path / "x.png"))), (5, 5))


def test_pad_to_square_centres_on_black():
    portrait = Image.new("RGB", (100, 200), (255, 255, 255))
    padded = mh.load_image(portrait, pad_to_square=True)
    assert padded.size == (200, 200)
    pixels = np.asarray(padded)
    assert pixels[:, :50].max() == 0 and pixels[:, 150:].max() == 0 and pixels[:, 50:150].min() == 255
    landscape = mh.load_image(Image.new("RGB", (201, 100), (255, 255, 255)), pad_to_square=True)
    rows = np.asarray(landscape)[..., 0].max(axis=1)
    assert landscape.size == (201, 201) and rows[:50].max() == 0 and rows[50:150].min() == 255 and rows[150:].max() == 0


@pytest.mark.parametrize("make, reason", [
    (lambda p: p / "missing.png", "does not exist"),
    (lambda p: p, "folder"),
    (lambda p: _write(p / "empty.png", b""), "empty"),
    (lambda p: _write(p / "page.png", b"<html><body>Not found</body></html>"), "not a recognised"),
    (lambda p: _write(p / "cut.png", _png_bytes()[:300]), "truncated"),
    (lambda p: _png_header_only(p / "bomb.png", 30000, 30000), "decompression bomb"),
    (lambda p: _png_header_only(p / "big.png", 11000, 10000), "decompression bomb"),
])
def test_unreadable_files_raise_image_error_naming_the_file(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(mh.ImageError) as caught:
        mh.load_image(path)
    assert reason in str(caught.value) and str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("source", [
    42, None, np.zeros((0, 5)), np.zeros((4, 4, 5)), np.array([["a"]]), Image.new("L", (0, 0)), "",
    np.full((4, 4), np.nan),
])
def test_wrong_inputs_raise_image_error(source):
    with pytest.raises(mh.ImageError):
        mh.load_image(source)


def test_dicom_options_on_a_png_are_refused(tmp_path):
    with pytest.raises(mh.ImageError, match="DICOM"):
        mh.load_image(_save(Image.new("L", (5, 5)), tmp_path / "a.png"), window="lung")
