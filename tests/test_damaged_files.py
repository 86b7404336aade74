"""Damaged files, property-based: whatever is done to a real PNG or DICOM (random bytes in its header, a piece of
another file spliced in, the body cut short), mh.load_image either returns a valid 8-bit RGB image or raises the
project's ImageError naming the file, and does so within seconds.

The sources are real files: pydicom's bundled test files (several encodings, compressed and not, a non-image),
the project's own generated CT slice and radiograph, and the real case films when MEDGEMMA_IMAGE_MIRROR is set.
Hypothesis runs derandomized (the same examples on every run, so CI is reproducible) with a bounded number of
examples, and keeps no example database.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from conftest import _generated_xray, shared_images_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

import medgemma_helpers as mh
from medgemma_helpers import demo_data

SECONDS_ALLOWED = 5.0  # not a speed target: a damaged file must fail (or load) at once, never hang
PYDICOM_FILES = ("CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
                 "MR_small_implicit.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm", "SC_rgb_jpeg_dcmtk.dcm",
                 "examples_palette.dcm", "examples_ybr_color.dcm", "image_dfl.dcm", "rtplan.dcm",
                 "liver_1frame.dcm")
DAMAGE_SETTINGS = settings(max_examples=250, deadline=None, derandomize=True, database=None, print_blob=True,
                           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _photo_with_exif() -> bytes:
    """A JPEG as a phone saves a photo of a film: EXIF with a rotation, which load_image applies."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees to display
    exif[0x010F] = "Phone"  # Make
    buffer = io.BytesIO()
    _generated_xray(4, (96, 80)).convert("RGB").save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


class Sources(dict):
    """Name -> bytes of the undamaged sources, shown by name only (hypothesis prints its arguments on failure)."""

    def __repr__(self) -> str:
        return f"Sources({sorted(self)})"


def _sources(folder: Path) -> Sources:
    """Every undamaged source; the name's suffix says whether it is DICOM."""
    found = Sources()
    for name in PYDICOM_FILES:
        path = get_testdata_file(name, download=False)  # bundled with pydicom: no network
        if path is not None:
            found[name] = Path(path).read_bytes()
    series = demo_data.write_demo_ct_series(folder / "demo-ct", slices=1, size=48)
    found["demo_ct_slice.dcm"] = (series / "slice_001.dcm").read_bytes()
    buffer = io.BytesIO()
    _generated_xray(3, (120, 96)).save(buffer, format="PNG")
    found["generated_xray.png"] = buffer.getvalue()
    found["phone_photo.jpg"] = _photo_with_exif()
    mirror = shared_images_dir()
    if mirror is not None:  # the real case films: large, 8-bit grey PNGs from two sources
        for name in ("case01_normal_pa.png", "case03_nih_00015044_000.png"):
            found[name] = (mirror / name).read_bytes()
    return found


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Sources:
    found = _sources(tmp_path_factory.mktemp("sources"))
    assert sum(name.endswith(".dcm") for name in found) >= 10, f"too few pydicom test files: {sorted(found)}"
    for name, data in found.items():  # every source loads undamaged: the damage is what the test varies
        path = tmp_path_factory.mktemp("undamaged") / name
        path.write_bytes(data)
        try:
            assert mh.load_image(path).mode == "RGB"
        except mh.ImageError as error:  # rtplan.dcm is a plan, not an image: a clear refusal is right
            assert name == "rtplan.dcm" and "no PixelData" in str(error), str(error)
    return found


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("damaged")


# One damage per example: (kind, parameters). Positions are taken modulo the file's length.
header_bytes = st.tuples(st.just("header"), st.lists(st.tuples(st.integers(0, 511), st.integers(0, 255)),
                                                     min_size=1, max_size=32))
splice = st.tuples(st.just("splice"), st.tuples(st.integers(0, 1 << 20), st.integers(0, 1 << 20),
                                                st.integers(1, 4096), st.integers(0, 63)))
truncate = st.tuples(st.just("truncate"), st.floats(0.0, 1.0, exclude_max=True))
damages = st.one_of(header_bytes, splice, truncate)


def damaged(data: bytes, damage: tuple, others: list[bytes]) -> bytes:
    """data with one damage applied."""
    kind, parameters = damage
    out = bytearray(data)
    if kind == "header":
        for position, value in parameters:
            out[position % min(512, len(out))] = value
    elif kind == "splice":
        at, source_at, length, which = parameters
        donor = others[which % len(others)]
        start = source_at % len(donor)
        at %= len(out)
        out[at:at + length] = donor[start:start + length]
    else:
        out = out[:max(1, int(parameters * len(out)))]
    return bytes(out)


def assert_image_or_named_error(path: Path) -> None:
    """The property: a valid RGB image, or an ImageError naming the file, within SECONDS_ALLOWED."""
    started = time.perf_counter()
    try:
        image = mh.load_image(path)
    except mh.ImageError as error:
        assert str(path) in str(error), f"the error does not name the file: {error}"
    else:
        assert image.mode == "RGB" and image.width > 0 and image.height > 0
        image.tobytes()  # fully decoded
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS_ALLOWED, f"{path.name} took {elapsed:.1f} s"


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about every damaged value it meets
@DAMAGE_SETTINGS
@given(name=st.data(), damage=damages, keep_suffix=st.booleans())
def test_a_damaged_file_loads_or_fails_as_a_named_image_error(sources, workdir, name, damage, keep_suffix):
    source = name.draw(st.sampled_from(sorted(sources)))
    data = damaged(sources[source], damage, list(sources.values()))
    # A DICOM may come without its suffix (found by the 'DICM' marker, which the damage may have hit).
    path = workdir / (source if keep_suffix else Path(source).stem + ".bin")
    path.write_bytes(data)
    assert_image_or_named_error(path)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(damage=damages, which=st.integers(0, 2))
def test_a_series_with_a_damaged_slice_loads_or_fails_as_a_named_image_error(sources, workdir, damage, which):
    import shutil

    folder = workdir / "series"
    shutil.rmtree(folder, ignore_errors=True)
    demo_data.write_demo_ct_series(folder, slices=3, size=32)
    victim = sorted(folder.iterdir())[which]
    victim.write_bytes(damaged(victim.read_bytes(), damage, list(sources.values())))
    started = time.perf_counter()
    try:
        volume = mh.load_ct_series(folder)
    except mh.ImageError as error:
        assert str(victim) in str(error) or str(folder) in str(error), str(error)
    else:
        assert volume.hu.ndim == 3 and volume.hu.shape[0] >= 1
    assert time.perf_counter() - started < SECONDS_ALLOWED


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("source, damage, saved_as", [
    # Damages hypothesis found escaping as pydicom's own exceptions before read_dicom_image caught them:
    # BytesLengthException (a one-byte group length), and zlib.error from a deflated body with a piece spliced in.
    ("demo_ct_slice.dcm", ("header", [(138, 1)]), "slice.dcm"),
    ("image_dfl.dcm", ("splice", (282, 0, 19, 0)), "deflated.bin"),
])
def test_known_escapes_are_named_image_errors(sources, workdir, source, damage, saved_as):
    path = workdir / saved_as
    path.write_bytes(damaged(sources[source], damage, list(sources.values())))
    with pytest.raises(mh.ImageError, match="is damaged and could not be read"):
        mh.load_image(path)
    assert_image_or_named_error(path)


def test_a_photo_with_a_damaged_exif_block_is_a_named_image_error(sources, workdir):
    # Pillow decodes the pixels but fails on the rotation tag later, in exif_transpose, with a SyntaxError.
    data = bytearray(sources["phone_photo.jpg"])
    header = next(data.find(marker) for marker in (b"MM\x00*", b"II*\x00") if data.find(marker) >= 0)
    data[header + 1] ^= 0x1E  # the byte-order mark of the EXIF block's TIFF header, no longer valid
    path = workdir / "photo.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(mh.ImageError, match="could not be converted"):
        mh.load_image(path)
    assert_image_or_named_error(path)
