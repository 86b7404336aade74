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


@pytest.mark.parametrize("array, message", [
    (np.zeros(5), r"Image a ndarray object has shape \(5,\); give an H x W or H x W x C array\."),
    (np.zeros((0, 5)), r"Image a ndarray object has shape \(0, 5\); give an H x W"),
    (np.zeros((2, 2, 2, 2)), r"Image a ndarray object has shape \(2, 2, 2, 2\)"),
    (np.zeros((4, 6, 2)), r"Image a ndarray object has 2 channels; give 1, 3 or 4 channels last\."),
    (np.zeros((4, 6, 7)), r"Image a ndarray object has 7 channels"),
    (np.full((4, 4), np.nan), r"Image a ndarray object holds no finite pixel values; check the file or array\."),
    (np.full((4, 4, 1), np.inf), r"Image a ndarray object holds no finite pixel values"),
    (np.array([["a", "b"]]), r"Image a ndarray object has dtype <U1; give a numeric array\."),
    (np.broadcast_to(np.uint8(0), (20_000, 5_001)), r"Image a ndarray object has 20000 x 5001 pixels, over the "
                                                    r"100,000,000 limit; downscale it first\."),
])
def test_a_refused_array_is_told_what_is_wrong(array, message):
    with pytest.raises(mh.ImageError, match=message):
        mh.load_image(array)


def test_single_channel_and_boolean_arrays_read_as_grey():
    ramp = np.arange(12, dtype=np.float32).reshape(3, 4)
    as_grey = np.asarray(mh.load_image(ramp))
    assert np.array_equal(np.asarray(mh.load_image(ramp[..., None])), as_grey)  # H x W x 1 = H x W
    assert as_grey[0, 0].tolist() == [0, 0, 0] and as_grey[-1, -1].tolist() == [255, 255, 255]
    eight_bit = np.arange(12, dtype=np.uint8).reshape(3, 4, 1) * 20
    assert np.array_equal(np.asarray(mh.load_image(eight_bit))[..., 0], eight_bit[..., 0])  # kept, not stretched
    mask = np.array([[True, False], [False, True]])
    assert np.asarray(mh.load_image(mask))[..., 1].tolist() == [[255, 0], [0, 255]]
    assert mh.load_image(np.ones((1, 1), dtype=np.uint8)).size == (1, 1)  # one pixel is still an image


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L", "I;16N", "I", "F"])
def test_16_bit_and_float_images_are_stretched_not_clipped(mode):
    ramp = np.linspace(0, 4000, 64).reshape(8, 8)
    if mode == "F":
        image = Image.fromarray(ramp.astype(np.float32), mode="F")
    elif mode == "I":
        image = Image.fromarray(ramp.astype(np.int32), mode="I")
    else:
        dtype = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2"}[mode]
        image = Image.frombytes(mode, (8, 8), ramp.astype(dtype).tobytes())
    grey = np.asarray(mh.load_image(image))[..., 0]
    assert grey.min() == 0 and grey.max() == 255  # the used range fills 0-255
    assert np.all(np.diff(grey.ravel().astype(int)) >= 0) and len(np.unique(grey)) > 32  # an even ramp, not clipped


def test_non_finite_values_take_the_ends_of_the_range():
    values = np.array([[np.nan, -np.inf, 100.0], [200.0, 300.0, np.inf]])
    grey = np.asarray(mh.load_image(values))[..., 0]
    assert grey.tolist() == [[0, 0, 0], [128, 255, 255]]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "P"])
def test_transparent_pixels_become_black_like_the_padding(mode):
    rgba = Image.new("RGBA", (2, 1), (255, 255, 255, 255))
    rgba.putpixel((1, 0), (255, 255, 255, 0))
    if mode == "P":
        image = Image.new("P", (2, 1), 1)
        image.putpalette([0, 0, 0, 255, 255, 255, 200, 200, 200])
        image.putpixel((1, 0), 2)
        image.info["transparency"] = 2
    elif mode == "PA":
        image = rgba.convert("PA")
    else:
        image = rgba.convert(mode)
    assert np.asarray(mh.load_image(image)).tolist() == [[[255, 255, 255], [0, 0, 0]]]


def test_colour_and_one_column_arrays_keep_their_pixels():
    colour = np.array([[[10, 20, 30], [200, 100, 50]]], dtype=np.uint8)
    assert np.array_equal(np.asarray(mh.load_image(colour)), colour)
    column = np.linspace(0.0, 1.0, 5).reshape(5, 1)
    assert np.asarray(mh.load_image(column))[:, 0, 0].tolist() == [0, 64, 128, 191, 255]


def test_a_float_image_with_no_finite_pixel_is_refused_by_name():
    with pytest.raises(mh.ImageError, match=r"^Image a Image object holds no finite pixel values"):
        mh.load_image(Image.fromarray(np.full((4, 4), np.nan, dtype=np.float32), mode="F"))
