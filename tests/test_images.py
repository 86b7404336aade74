"""load_image: every readable input becomes 8-bit RGB; every unreadable one is an ImageError naming it."""

from __future__ import annotations

import http.server
import io
import re
import socket
import struct
import threading
import zlib

import numpy as np
import pytest
from conftest import closed_port
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
    (np.zeros(5), r"Image given as a numpy array has shape \(5,\); give an H x W or H x W x C array\."),
    (np.zeros((0, 5)), r"Image given as a numpy array has shape \(0, 5\); give an H x W"),
    (np.zeros((2, 2, 2, 2)), r"Image given as a numpy array has shape \(2, 2, 2, 2\)"),
    (np.zeros((4, 6, 2)), r"Image given as a numpy array has 2 channels; give 1, 3 or 4 channels last\."),
    (np.zeros((4, 6, 7)), r"Image given as a numpy array has 7 channels"),
    (np.full((4, 4), np.nan), r"Image given as a numpy array holds no finite pixel values; check the file or array\."),
    (np.full((4, 4, 1), np.inf), r"Image given as a numpy array holds no finite pixel values"),
    (np.array([["a", "b"]]), r"Image given as a numpy array has dtype <U1; give a numeric array\."),
    (np.broadcast_to(np.uint8(0), (20_000, 5_001)), r"Image given as a numpy array has 20000 x 5001 pixels, over the "
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
    with pytest.raises(mh.ImageError, match=r"^Image given as a PIL image holds no finite pixel values"):
        mh.load_image(Image.fromarray(np.full((4, 4), np.nan, dtype=np.float32), mode="F"))


class _ImageSite(http.server.BaseHTTPRequestHandler):
    """A film, an HTML page, an empty answer, a download cut short and a hang-up, as real hosts give them."""

    film = b""
    user_agents: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        self.user_agents.append(self.headers.get("User-Agent", ""))
        if self.path == "/hangup.png":
            self.close_connection = True
            return
        if self.path == "/missing.png":
            self.send_error(404)
            return
        body, declared = {"/film.png": (self.film, len(self.film)), "/empty.png": (b"", 0),
                          "/page.png": (b"<html>Sign in</html>", 20),
                          "/cut.png": (self.film[:100], len(self.film)),
                          "/one-mb.bin": (b"x" * 1024 * 1024, 1024 * 1024),
                          "/over-one-mb.bin": (b"x" * (1024 * 1024 + 1), 1024 * 1024 + 1)}[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def image_site():
    _ImageSite.film = _png_bytes()
    _ImageSite.user_agents = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ImageSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_image_url_gives_the_same_pixels_as_the_file(tmp_path, image_site):
    from_url = mh.load_image(f"{image_site}/film.png")
    from_file = mh.load_image(_write(tmp_path / "film.png", _png_bytes()))
    assert np.array_equal(np.asarray(from_url), np.asarray(from_file))


@pytest.mark.parametrize(("path", "message"), [
    ("/empty.png", r"^Image {url} is empty \(0 bytes\); download or export it again\.$"),
    ("/page.png", r"^Image {url} is not a recognised image format \(PNG, JPEG, TIFF, BMP, WebP, or DICOM by \.dcm "
                  r"suffix\); export it as PNG or JPEG\.$"),
    ("/missing.png", r"^Download of {url} failed with HTTP 404; check the address or use a local copy\.$"),
    ("/hangup.png", r"^Download of {url} failed \(Remote end closed connection without response\); check the "
                    r"network, or set MEDGEMMA_IMAGE_MIRROR to a folder that holds the images\.$"),
    ("/cut.png", r"^Download of {url} was interrupted \(100 of \d+ bytes\); nothing was saved\. Run it again\.$"),
])
def test_a_bad_download_is_refused_by_its_address(image_site, path, message):
    url = image_site + path
    with pytest.raises(mh.ImageError, match=message.format(url=re.escape(url))):
        mh.load_image(url)


def test_a_refused_connection_says_why():
    port = closed_port()
    with pytest.raises(mh.ImageError, match=r"failed \(\[Errno \d+\] Connection refused\); check the network"):
        mh.load_image(f"http://127.0.0.1:{port}/film.png")


def test_image_bytes_load_like_the_file_and_fail_under_one_name(tmp_path):
    from_bytes = mh.load_image(_png_bytes())
    assert np.array_equal(np.asarray(from_bytes), np.asarray(mh.load_image(_write(tmp_path / "a.png", _png_bytes()))))
    assert np.array_equal(np.asarray(mh.load_image(bytearray(_png_bytes()))), np.asarray(from_bytes))
    with pytest.raises(mh.ImageError, match=r"^Image given as bytes is not a recognised image format \(PNG, JPEG, "
                                            r"TIFF, BMP, WebP, or DICOM by \.dcm suffix\); "
                                            r"export it as PNG or JPEG\.$"):
        mh.load_image(b"<html>not an image</html>")
    with pytest.raises(mh.ImageError, match=r"^Image given as bytes could not be decoded \([A-Z]\w*Error: .+\); "
                                            r"the file may be truncated or corrupt\. Download or export it again\.$"):
        mh.load_image(_png_bytes()[:300])
    with pytest.raises(mh.ImageError, match=r"^Image given as bytes is empty \(0 bytes\)"):
        mh.load_image(b"")


def test_a_long_path_is_shortened_in_the_message(tmp_path):
    path = str(tmp_path / ("x" * 300 + ".png"))
    with pytest.raises(mh.ImageError) as caught:
        mh.load_image(path)
    # Python 3.11 cannot even ask whether so long a name exists; 3.12 says it does not
    assert re.match(rf"^Image {re.escape(path[:200])}\.\.\. (could not be read \(File name too long\); check the "
                    r"path and its permissions\.|does not exist; check the path)", str(caught.value))


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    from medgemma_helpers import images

    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    path = _write(tmp_path / "film.png", _png_bytes())
    with pytest.raises(mh.ImageError, match=rf"^Image {re.escape(str(path))} is 200 x 200 pixels, over the 100 pixel "
                                            r"limit \(a possible decompression bomb\); downscale it before loading\.$"):
        mh.load_image(path)


def test_an_empty_pil_image_is_refused_with_the_allowed_range():
    with pytest.raises(mh.ImageError, match=r"^Image given as a PIL image is 0 x 5 pixels; give an image with 1 to "
                                            r"[\d,]+ pixels\.$"):
        mh.load_image(Image.new("L", (0, 5)))


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
def test_the_model_always_gets_rgb(mode):
    from medgemma_helpers.images import model_image

    picture = Image.new(mode, (30, 20), 200 if mode != "RGBA" else (200, 200, 200, 255))
    sent = model_image(picture, modality="ultrasound")
    assert sent.mode == "RGB" and sent.size == (30, 20)
    assert model_image(picture, modality="chest X-ray").size == (30, 30)


def test_downloads_say_who_asks_and_stop_at_the_size_cap(image_site):
    from medgemma_helpers.images import download

    assert len(download(f"{image_site}/one-mb.bin", max_bytes=1024 * 1024)) == 1024 * 1024
    url = f"{image_site}/over-one-mb.bin"
    with pytest.raises(mh.ImageError, match=rf"^Download of {re.escape(url)} is over 1 MB; refusing it\.$"):
        download(url, max_bytes=1024 * 1024)
    assert set(_ImageSite.user_agents) == {"medgemma-case-notebooks"}


def test_a_silent_server_times_out_instead_of_hanging():
    from medgemma_helpers.images import download

    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/film.png"
        outcome: list[BaseException] = []
        worker = threading.Thread(target=lambda: outcome.append(pytest.raises(mh.ImageError, download, url,
                                                                              timeout=0.5).value), daemon=True)
        worker.start()
        worker.join(20)  # a hang guard, not a speed target
        assert not worker.is_alive(), "download ignored its timeout"
    assert "timed out" in str(outcome[0])


def test_an_https_address_is_fetched_not_looked_up_on_disk():
    port = closed_port()
    with pytest.raises(mh.ImageError, match=rf"^Download of https://127\.0\.0\.1:{port}/film\.png failed"):
        mh.load_image(f"https://127.0.0.1:{port}/film.png")
    with pytest.raises(mh.ImageError, match=r"^Download of HTTPS://"):
        mh.load_image(f"HTTPS://127.0.0.1:{port}/film.png")


@pytest.mark.parametrize(("source", "message"), [
    ("   ", r"^Image path is empty; give a file path, URL, PIL image or numpy array\.$"),
    ({"x": 1}, r"^Image given as a dict: cannot load this type; give a file path, URL, PIL image or numpy array\.$"),
])
def test_an_input_that_names_no_image_is_told_what_to_give(source, message):
    with pytest.raises(mh.ImageError, match=message):
        mh.load_image(source)


def test_a_folder_is_pointed_to_the_series_loader(tmp_path):
    with pytest.raises(mh.ImageError, match=rf"^Image {re.escape(str(tmp_path))} is a folder, not a file; give one "
                                            r"image file \(for a CT series folder use mh\.load_ct_series\)\.$"):
        mh.load_image(tmp_path)


def test_a_one_byte_file_is_not_called_empty(tmp_path):
    with pytest.raises(mh.ImageError, match="not a recognised image format"):
        mh.load_image(_write(tmp_path / "one.png", b"x"))


def test_a_path_of_200_characters_is_shown_whole(tmp_path):
    folder = tmp_path / ("d" * 100)
    folder.mkdir()
    path = str(folder / "f.png")
    path = path[:-4] + "f" * (200 - len(path)) + ".png"
    assert len(path) == 200
    with pytest.raises(mh.ImageError, match=rf"^Image {re.escape(path)} does not exist"):
        mh.load_image(path)


def test_dicom_options_are_refused_for_inputs_that_are_not_dicom(tmp_path):
    png = _save(Image.new("L", (5, 5)), tmp_path / "a.png")
    with pytest.raises(mh.ImageError, match=rf"^Image {re.escape(str(png))}: options \['window'\] apply to DICOM "
                                            r"files only; remove them\.$"):
        mh.load_image(png, window="lung")
    with pytest.raises(mh.ImageError, match=r"^Image given as a numpy array: options \['frame', 'window'\] apply"):
        mh.load_image(np.zeros((4, 4)), window="lung", frame=0)
    with pytest.raises(mh.ImageError, match=r"^Image http://127\.0\.0\.1:9/a\.png: options \['window'\]"):
        mh.load_image("http://127.0.0.1:9/a.png", window="lung")


def test_dicom_options_reach_the_dicom_reader(tmp_path):
    from medgemma_helpers import demo_data

    series = demo_data.write_demo_ct_series(tmp_path / "ct", slices=1, size=32)
    (dicom_file,) = series.iterdir()
    lung, bone = mh.load_image(dicom_file, window="lung"), mh.load_image(dicom_file, window="bone")
    assert not np.array_equal(np.asarray(lung), np.asarray(bone))


def test_a_float_image_file_with_no_finite_pixel_is_refused_by_its_path(tmp_path):
    path = _save(Image.fromarray(np.full((4, 4), np.nan, dtype=np.float32), mode="F"), tmp_path / "nan.tif")
    with pytest.raises(mh.ImageError, match=rf"^Image {re.escape(str(path))} holds no finite pixel values"):
        mh.load_image(path)


def test_a_transparent_palette_colour_in_a_file_becomes_black(tmp_path):
    image = Image.new("P", (2, 1), 1)
    image.putpalette([0, 0, 0, 255, 255, 255, 200, 200, 200])
    image.putpixel((1, 0), 2)
    path = _save(image, tmp_path / "palette.png", transparency=2)
    assert np.asarray(mh.load_image(path)).tolist() == [[[255, 255, 255], [0, 0, 0]]]


def test_a_lazily_opened_truncated_file_is_refused_with_what_to_do(tmp_path):
    opened = Image.open(_write(tmp_path / "cut.png", _png_bytes()[:300]))  # Pillow decodes only when asked
    with pytest.raises(mh.ImageError, match=r"^Image given as a PIL image could not be decoded \(.+\); load the "
                                            r"file again\.$"):
        mh.load_image(opened)


def test_the_pixel_limit_is_inclusive(tmp_path, monkeypatch):
    from medgemma_helpers import images

    monkeypatch.setattr(images, "MAX_PIXELS", 200 * 200)
    assert mh.load_image(_write(tmp_path / "film.png", _png_bytes())).size == (200, 200)
    monkeypatch.setattr(images, "MAX_PIXELS", 110)
    assert mh.load_image(Image.new("L", (10, 11))).size == (10, 11)
    with pytest.raises(mh.ImageError, match=r"is 11 x 11 pixels; give an image with 1 to 110 pixels\.$"):
        mh.load_image(Image.new("L", (11, 11)))


def test_a_damaged_exif_block_is_refused_by_name_with_what_to_do():
    picture = io.BytesIO()
    Image.new("L", (8, 8)).save(picture, "PNG", exif=b"garbage")  # EXIF that is not a TIFF block
    with pytest.raises(mh.ImageError, match=r"^Image given as bytes could not be converted \([A-Z]\w*Error: .+\); the "
                                            r"file may be corrupt\. Download or export it again\.$"):
        mh.load_image(picture.getvalue())


def test_pillows_own_bomb_check_is_explained(tmp_path):
    path = _png_header_only(tmp_path / "bomb.png", 30000, 30000)
    with pytest.raises(mh.ImageError, match=rf"^Image {re.escape(str(path))} is too large to decode safely "
                                            r"\(a possible decompression bomb\); downscale it before loading\.$"):
        mh.load_image(path)
