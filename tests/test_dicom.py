"""DICOM reading and MedGemma 1.5 CT preparation, on synthetic files written with pydicom."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from medgemma_helpers import dicom, figures
from medgemma_helpers.errors import ImageError
from medgemma_helpers.images import load_image

SERIES_UID = "1.2.826.0.1.3680043.8.498.1"


def make_ct(stored: np.ndarray, *, slope: float = 1.0, intercept: float = -1024.0, instance: int | None = 1,
            position: tuple[float, float, float] | None = None, series_uid: str = SERIES_UID,
            description: str = "AXIAL 1mm", photometric: str = "MONOCHROME2", window=None,
            modality: str = "CT") -> Dataset:
    """A minimal CT image dataset holding stored values (int16, signed)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDescription = description
    if instance is not None:
        ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = list(position)
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 1.0
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = stored.astype(np.int16).tobytes()
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def grey(image: Image.Image) -> np.ndarray:
    array = np.asarray(image)
    assert image.mode == "RGB" and array.dtype == np.uint8
    assert (array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all()
    return array[..., 0]


# ----------------------------------------------------------------------------------- CT encoding


def test_three_window_encoding_gives_exact_channel_values():
    hu = np.array([[[-1024, -135, 0, 40, 80, 215, 1024, 2000]]], dtype=np.float32)
    (image,) = dicom.ct_windows(hu)
    rgb = np.asarray(image)[0]
    # R = wide -1024..1024, G = soft tissue -135..215, B = brain 0..80, each (hu-lo)/(hi-lo)*255 rounded.
    assert rgb[:, 0].tolist() == [0, 111, 128, 132, 137, 154, 255, 255]
    assert rgb[:, 1].tolist() == [0, 0, 98, 128, 157, 255, 255, 255]
    assert rgb[:, 2].tolist() == [0, 0, 0, 128, 255, 255, 255, 255]


def test_rescale_slope_and_intercept_reach_hu(tmp_path):
    stored = np.array([[0, 512], [1064, 3000]])
    path = save(make_ct(stored, slope=2.0, intercept=-1024.0), tmp_path / "a.dcm")
    volume = dicom.load_ct_series(tmp_path)
    assert volume.hu.dtype == np.float32
    assert volume.hu[0].tolist() == [[-1024.0, 0.0], [1104.0, 4976.0]]
    assert volume.files == [path]


def test_shuffled_instance_numbers_come_back_sorted(tmp_path):
    order = [3, 1, 5, 2, 4]
    for n in order:
        save(make_ct(np.full((2, 2), n * 10), instance=n), tmp_path / f"file{n * 7 % 5}_{n}.dcm")
    volume = dicom.load_ct_series(tmp_path)
    assert volume.instance_numbers == [1, 2, 3, 4, 5]
    assert volume.hu[:, 0, 0].tolist() == [n * 10 - 1024 for n in [1, 2, 3, 4, 5]]
    assert volume.series_uid == SERIES_UID and volume.modality == "CT" and volume.description == "AXIAL 1mm"


def test_image_position_sorts_when_instance_numbers_repeat(tmp_path):
    # Every file says InstanceNumber 1, so only the position along the slice normal can order them.
    for z in [-20.0, 10.0, 0.0, -10.0]:
        save(make_ct(np.full((2, 2), int(z) + 1024), instance=1, position=(0.0, 0.0, z)), tmp_path / f"{z}.dcm")
    volume = dicom.load_ct_series(tmp_path)
    assert volume.hu[:, 0, 0].tolist() == [10.0, 0.0, -10.0, -20.0]  # head (highest z) first
    assert volume.spacing == (10.0, 0.7, 0.7)


def test_image_position_sorts_when_instance_numbers_missing(tmp_path):
    for z in [5.0, 15.0, 10.0]:
        save(make_ct(np.full((2, 2), 1024), instance=None, position=(0.0, 0.0, z)), tmp_path / f"{z}.dcm")
    volume = dicom.load_ct_series(tmp_path)
    assert [p.name for p in volume.files] == ["15.0.dcm", "10.0.dcm", "5.0.dcm"]
    assert volume.instance_numbers == [None, None, None]


def test_200_slices_sample_85_uniformly_with_both_ends():
    indices = dicom.sample_slice_indices(200, 85)
    assert len(indices) == 85 and indices[0] == 0 and indices[-1] == 199
    assert indices == sorted(set(indices))
    assert set(np.diff(indices).tolist()) <= {2, 3}  # uniform: 199 / 84 = 2.37 apart
    hu = np.zeros((200, 4, 4), dtype=np.float32)
    hu[:, 0, 0] = np.arange(200)  # tag each slice with its index (within the B window 0..80 is not needed)
    images = dicom.ct_windows(hu)
    assert len(images) == 85
    wide = [int(np.asarray(image)[0, 0, 0]) for image in images]
    expected = [int(np.rint((i + 1024) / 2048 * 255)) for i in indices]
    assert wide == expected
    assert dicom.slice_labels(indices) == [f"SLICE {n}" for n in range(1, 86)]


def test_short_series_keeps_every_slice():
    assert dicom.sample_slice_indices(12) == list(range(12))
    assert dicom.slice_labels(3) == ["SLICE 1", "SLICE 2", "SLICE 3"]


def test_mri_windows_min_max_over_the_volume():
    volume = np.stack([np.full((2, 2), 100.0), np.full((2, 2), 300.0), np.full((2, 2), 500.0)])
    images = dicom.mri_windows(volume)
    assert [np.asarray(image)[0, 0].tolist() for image in images] == [[0, 0, 0], [128, 128, 128], [255, 255, 255]]


def test_ct_windows_refuses_a_2d_array():
    with pytest.raises(ImageError, match="slices, rows, cols"):
        dicom.ct_windows(np.zeros((4, 4)))


# ---------------------------------------------------------------------------------- series folders


def test_mixed_series_folder_is_refused_naming_both(tmp_path):
    save(make_ct(np.zeros((2, 2)), series_uid="1.2.3.4"), tmp_path / "a.dcm")
    save(make_ct(np.zeros((2, 2)), series_uid="1.2.3.4", instance=2), tmp_path / "b.dcm")
    save(make_ct(np.zeros((2, 2)), series_uid="1.2.3.5", description="SCOUT"), tmp_path / "c.dcm")
    with pytest.raises(ImageError) as caught:
        dicom.load_ct_series(tmp_path)
    message = str(caught.value)
    assert "1.2.3.4" in message and "1.2.3.5" in message and "SCOUT" in message and "AXIAL 1mm" in message
    assert "(2 files)" in message and "(1 file)" in message and str(tmp_path) in message
    assert "one series' folder" in message


def test_non_dicom_files_are_skipped_quietly(tmp_path):
    save(make_ct(np.zeros((2, 2))), tmp_path / "slice.dcm")
    (tmp_path / "README.txt").write_text("scanned on a Tuesday")
    (tmp_path / "DICOMDIR").write_bytes(b"\0" * 200)
    assert dicom.load_ct_series(tmp_path).shape == (1, 2, 2)


def test_folder_without_dicom_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    (tmp_path / "series1").mkdir()
    with pytest.raises(ImageError, match="no DICOM images.*series1"):
        dicom.load_ct_series(tmp_path)


def test_mismatched_slice_shapes_are_refused(tmp_path):
    save(make_ct(np.zeros((2, 2)), instance=1), tmp_path / "a.dcm")
    save(make_ct(np.zeros((3, 2)), instance=2), tmp_path / "b.dcm")
    with pytest.raises(ImageError, match="differ in size"):
        dicom.load_ct_series(tmp_path)


# ------------------------------------------------------------------------------------ single files


def test_files_own_window_is_used(tmp_path):
    # Stored 1064 -> 40 HU, the file's window 40/80 maps 0..80 HU to black..white.
    stored = np.array([[1024, 1064, 1104, 2024]])
    path = save(make_ct(stored, window=(40, 80)), tmp_path / "w.dcm")
    values = grey(dicom.read_dicom_image(path))
    assert values[0, 0] == 0 and values[0, 2] == 255 and values[0, 3] == 255
    assert 126 <= values[0, 1] <= 129  # pydicom's LINEAR window puts the centre at 127.5 +- half a step


def test_multi_valued_window_uses_the_first(tmp_path):
    ds = make_ct(np.array([[1024, 1064, 1104]]))
    ds.WindowCenter, ds.WindowWidth = [40, 400], [80, 2000]
    values = grey(dicom.read_dicom_image(save(ds, tmp_path / "w.dcm")))
    assert values[0, 0] == 0 and values[0, 2] == 255


def test_no_window_in_file_falls_back_to_min_max(tmp_path):
    values = grey(dicom.read_dicom_image(save(make_ct(np.array([[0, 100, 200]])), tmp_path / "m.dcm")))
    assert values.tolist() == [[0, 128, 255]]


def test_preset_and_tuple_windows(tmp_path):
    # Stored values chosen for HU -1350, -600, 150 around the lung window (-600 / 1500).
    path = save(make_ct(np.array([[-326, 424, 1174]]), window=(40, 80)), tmp_path / "p.dcm")
    assert grey(dicom.read_dicom_image(path, window="lung")).tolist() == [[0, 128, 255]]
    assert grey(dicom.read_dicom_image(path, window=(-600, 1500))).tolist() == [[0, 128, 255]]
    assert grey(load_image(path, window="Soft tissue")).shape == (1, 3)  # names forgive case and spaces
    assert dicom.WINDOW_PRESETS["lung"] == (-600.0, 1500.0)


def test_unknown_preset_lists_the_names(tmp_path):
    path = save(make_ct(np.zeros((2, 2))), tmp_path / "u.dcm")
    with pytest.raises(ImageError) as caught:
        dicom.read_dicom_image(path, window="liver")
    message = str(caught.value)
    assert "liver" in message and str(path) in message
    assert all(name in message for name in dicom.WINDOW_PRESETS)


def test_monochrome1_is_inverted(tmp_path):
    stored = np.array([[1024, 1064, 1104]])
    normal = grey(dicom.read_dicom_image(save(make_ct(stored), tmp_path / "m2.dcm"), window=(40, 80)))
    inverted = grey(dicom.read_dicom_image(save(make_ct(stored, photometric="MONOCHROME1"), tmp_path / "m1.dcm"),
                                           window=(40, 80)))
    assert normal.tolist() == [[0, 128, 255]]
    assert inverted.tolist() == [[255, 127, 0]]


def test_multi_frame_picks_the_frame_and_refuses_out_of_range(tmp_path):
    frames = np.stack([np.full((2, 3), value) for value in (1024, 1064, 1104)])
    ds = make_ct(frames)
    ds.NumberOfFrames = 3
    path = save(ds, tmp_path / "multi.dcm")
    assert [grey(dicom.read_dicom_image(path, window=(40, 80), frame=i))[0, 0] for i in range(3)] == [0, 128, 255]
    assert grey(dicom.read_dicom_image(path, window=(40, 80), frame=-1))[0, 0] == 255
    with pytest.raises(ImageError, match=r"has 3 frames.*frame=3"):
        dicom.read_dicom_image(path, frame=3)


def test_enhanced_multi_frame_rescale_from_functional_groups(tmp_path):
    frames = np.stack([np.full((2, 2), value) for value in (0, 40, 80)])
    ds = make_ct(frames)
    del ds.RescaleSlope, ds.RescaleIntercept
    ds.NumberOfFrames = 3
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, -40, "HU"
    shared = Dataset()
    shared.PixelValueTransformationSequence = [transform]
    ds.SharedFunctionalGroupsSequence = [shared]
    path = save(ds, tmp_path / "enhanced.dcm")
    assert grey(dicom.read_dicom_image(path, window=(0, 80), frame=1))[0, 0] == 128  # 40 - 40 = 0 HU
    volume = dicom.load_ct_series(tmp_path)  # one multi-frame file is a whole series
    assert volume.hu[:, 0, 0].tolist() == [-40.0, 0.0, 40.0]


def test_dicom_without_preamble_still_reads(tmp_path):
    ds = make_ct(np.array([[1024, 1064, 1104]]))
    del ds.file_meta  # old exports: a bare implicit-VR dataset, no 128-byte preamble or 'DICM'
    pydicom.dcmwrite(tmp_path / "old.dcm", ds, implicit_vr=True, little_endian=True)
    assert grey(dicom.read_dicom_image(tmp_path / "old.dcm", window=(40, 80))).tolist() == [[0, 128, 255]]


def test_file_without_pixel_data(tmp_path):
    ds = make_ct(np.zeros((2, 2)))
    del ds.PixelData
    path = save(ds, tmp_path / "nopixels.dcm")
    with pytest.raises(ImageError, match="no PixelData") as caught:
        dicom.read_dicom_image(path)
    assert str(path) in str(caught.value)


def test_text_file_named_dcm(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("Patient: anonymous\nFindings: none\n" * 20)
    with pytest.raises(ImageError, match="not a DICOM file") as caught:
        load_image(path)
    assert str(path) in str(caught.value)


def test_rle_compressed_file_decodes(tmp_path):
    stored = np.array([[1024, 1064], [1104, 1104]])
    ds = make_ct(stored)
    ds.compress(RLELossless, stored.astype(np.int16))
    path = save(ds, tmp_path / "rle.dcm")
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == RLELossless
    assert grey(dicom.read_dicom_image(path, window=(40, 80))).tolist() == [[0, 128], [255, 255]]


def _jpeg2000_file(tmp_path: Path) -> Path:
    """An 8-bit greyscale secondary capture compressed losslessly with Pillow's JPEG 2000 encoder."""
    values = np.array([[0, 60, 120], [180, 240, 255]], dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="JPEG2000", irreversible=False, no_jp2=True)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = values.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    return save(ds, tmp_path / "j2k.dcm")


def test_jpeg2000_decodes_when_a_plugin_is_present(tmp_path):
    if not get_decoder(JPEG2000Lossless).is_available:
        pytest.skip("no JPEG 2000 decoder installed")
    assert grey(dicom.read_dicom_image(_jpeg2000_file(tmp_path))).tolist() == [[0, 60, 120], [180, 240, 255]]


def test_jpeg2000_without_plugin_gives_the_pip_hint(tmp_path, monkeypatch):
    path = _jpeg2000_file(tmp_path)
    decoder = get_decoder(JPEG2000Lossless)
    # Make pydicom's own decoder believe no plugin is installed; the rest of the path is real.
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setitem(decoder._unavailable, "pillow", ("pillow", "openjpeg"))
    with pytest.raises(ImageError) as caught:
        load_image(path)
    message = str(caught.value)
    assert "JPEG 2000" in message and dicom.PLUGIN_HINT in message and str(path) in message


def test_jpeg_lossless_without_plugin_gives_the_pip_hint(tmp_path):
    if get_decoder(JPEGLosslessSV1).is_available:
        pytest.skip("a JPEG Lossless decoder is installed here")
    ds = make_ct(np.zeros((2, 2)))
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])  # never decoded: the missing plugin stops it first
    ds["PixelData"].VR = "OB"
    with pytest.raises(ImageError, match="JPEG Lossless.*pip install pylibjpeg"):
        dicom.read_dicom_image(save(ds, tmp_path / "jls.dcm"))


def test_rgb_dicom_and_colour_window_refusal(tmp_path):
    ds = make_ct(np.zeros((2, 2)))
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    del ds.RescaleSlope, ds.RescaleIntercept
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [9, 99, 199]]], dtype=np.uint8)
    ds.PixelData = rgb.tobytes()
    path = save(ds, tmp_path / "rgb.dcm")
    assert np.asarray(dicom.read_dicom_image(path)).tolist() == rgb.tolist()
    with pytest.raises(ImageError, match="colour"):
        dicom.read_dicom_image(path, window="lung")


def test_pydicom_ct_small_loads_through_load_image():
    path = pydicom.data.get_testdata_file("CT_small.dcm")
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (128, 128)
    array = np.asarray(image)
    assert array.dtype == np.uint8 and array.max() > array.min()
    assert load_image(path, window="mediastinum").size == (128, 128)


# ------------------------------------------------------------------------------------ showing slices


def test_montage_and_browser_fallback():
    hu = np.linspace(-1000, 1000, 5 * 8 * 8, dtype=np.float32).reshape(5, 8, 8)
    images = dicom.ct_windows(hu)
    sheet = figures.montage(images, columns=3, tile=40)
    assert sheet.size == (120, 80) and sheet.mode == "RGB"
    # No IPython kernel in a test run: the browser falls back to a static montage.
    assert isinstance(figures.slice_browser(hu), Image.Image)
    assert dicom.render_slice(hu, 2, "lung").size == (8, 8)


def test_browser_widget_builds_and_redraws():
    pytest.importorskip("ipywidgets")
    hu = np.linspace(-1000, 1000, 3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ipywidgets may warn that no kernel is connected
        box = figures._browser_widget(hu, "CT")
    slider, dropdown = box.children[0].children
    picture = box.children[1]
    first = bytes(picture.value)
    assert first.startswith(b"\x89PNG") and slider.max == 2 and dropdown.value == "ct"
    dropdown.value = "lung"
    assert bytes(picture.value) != first
