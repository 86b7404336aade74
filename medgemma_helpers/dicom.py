"""DICOM input: single images as 8-bit RGB, and CT series prepared the way MedGemma 1.5 reads CT.

pydicom is imported only when a DICOM file is actually read, so notebooks without DICOM never need it.
CT encoding, slice sampling and the "SLICE n" labels follow Google's MedGemma 1.5 CT notebook
(github.com/Google-Health/medgemma, notebooks/high_dimensional_ct_hugging_face.ipynb).

Layer: image input. May import: errors, pixels.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import ImageError
from .pixels import MAX_PIXELS, min_max_to_uint8, window_to_uint8

# Standard display windows as (centre, width) in HU (Radiopaedia's values). Bone uses the wide
# 400/1800 window (cortex and marrow both visible); 300/1500 is a narrower alternative.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "abdomen": (40.0, 400.0),
    "soft_tissue": (50.0, 400.0),
}

# MedGemma 1.5 was trained on CT slices whose R, G and B channels are three HU windows at once:
# wide (air to bone), soft tissue (fat to start of bone) and brain (water to brain). (low, high) HU.
CT_CHANNEL_WINDOWS: tuple[tuple[float, float], ...] = ((-1024.0, 1024.0), (-135.0, 215.0), (0.0, 80.0))
MAX_SLICES = 85  # the most slices Google's CT notebook sends; 85 x 256 image tokens fit the context
PLUGIN_HINT = "pip install pylibjpeg pylibjpeg-openjpeg pylibjpeg-libjpeg"
_PROGRESS_FROM = 100  # show a progress bar only for series long enough to make people wait

Window = str | tuple[float, float] | None


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError:
        raise ImageError("Reading DICOM needs pydicom, which is not installed: pip install pydicom") from None
    return pydicom


# ---------------------------------------------------------------------------------------------
# Reading one file
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _damage_is_image_error(name: str, what: str = "DICOM file") -> Iterator[None]:
    """Turn pydicom's own errors about a damaged file into an ImageError naming it.

    pydicom parses values lazily, so a damaged header (an odd value length, a UID of raw bytes, an unknown VR,
    a body cut short) fails wherever a value is first used, as BytesLengthException, TypeError, struct.error and
    more: too many places and kinds to list one by one.
    """
    try:
        yield
    except ImageError:
        raise
    except Exception as error:  # noqa: BLE001 - see above; the message keeps pydicom's own words
        detail = " ".join(str(error).split())[:200]
        raise ImageError(f"{what} {name} is damaged and could not be read ({type(error).__name__}: {detail}); "
                         "copy or export it again from its source.") from None


def _read_dataset(path: Path, *, stop_before_pixels: bool = False) -> Any | None:
    """The parsed dataset, or None when the file is not DICOM at all."""
    pydicom = _pydicom()
    from pydicom.errors import InvalidDicomError

    try:
        return _with_transfer_syntax(pydicom.dcmread(path, stop_before_pixels=stop_before_pixels))
    except InvalidDicomError:
        pass  # no 'DICM' preamble: older exports often lack it, so try a forced read below
    except OSError as error:
        raise ImageError(f"File {path} could not be read ({error.strerror or error}); check its permissions.") from None
    except (ValueError, EOFError, KeyError, TypeError, AttributeError, NotImplementedError):
        return None  # a DICM marker but a damaged body
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
        # A forced read of a text file "succeeds" with junk tags: insist on real image attributes.
        if "SOPClassUID" not in dataset and "Rows" not in dataset:
            return None
    except Exception:  # forced parsing of arbitrary bytes can fail in many ways; all mean "not DICOM"
        return None
    return _with_transfer_syntax(dataset)


def _with_transfer_syntax(dataset: Any) -> Any:
    """Record the encoding a dataset was parsed with when its header names none (decoding needs it)."""
    if "TransferSyntaxUID" in (getattr(dataset, "file_meta", None) or {}):
        return dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    implicit, little = dataset.original_encoding
    dataset.file_meta = getattr(dataset, "file_meta", None) or FileMetaDataset()
    if implicit is None or implicit:
        dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian if little in (None, True) else ExplicitVRBigEndian
    return dataset


def _frame_count(ds: Any) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _transfer_syntax(ds: Any) -> str:
    uid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    return f"{uid.name} ({uid})" if uid is not None and uid.name != str(uid) else str(uid or "unknown")


def _could_help(ds: Any) -> bool:
    """Whether the pylibjpeg plugins would add a decoder for this file's transfer syntax."""
    from pydicom.pixels import get_decoder

    try:
        return any("pylibjpeg" in line for line in get_decoder(ds.file_meta.TransferSyntaxUID).missing_dependencies)
    except (AttributeError, NotImplementedError, ValueError, KeyError):
        return False


def _decode(ds: Any, index: int | None, name: str) -> np.ndarray:
    """Decode pixel data (one frame when index is given), turning plugin failures into a pip hint."""
    from pydicom.pixels import pixel_array

    try:
        # raw=False lets pydicom convert YBR to RGB itself: it knows whether the JPEG decoder already did.
        return pixel_array(ds, index=index)
    except Exception as error:  # decoders raise RuntimeError, ValueError, NotImplementedError...
        details = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        if "missing dependencies" in details:
            raise ImageError(f"DICOM file {name} is compressed with {_transfer_syntax(ds)}, and no installed "
                             f"plugin can decode it: {PLUGIN_HINT} (then restart the kernel).") from None
        # e.g. Pillow is installed but cannot read 12-bit JPEG: another plugin might.
        hint = f" Another decoder may read it: {PLUGIN_HINT}" if _could_help(ds) else ""
        raise ImageError(f"DICOM file {name} could not be decoded ({_transfer_syntax(ds)}): "
                         f"{details.rstrip('.')}.{hint}") from None


_FRAME_KEYWORDS = ("PhotometricInterpretation", "BitsStored", "PixelRepresentation", "RescaleSlope",
                   "RescaleIntercept", "RescaleType", "ModalityLUTSequence", "WindowCenter", "WindowWidth",
                   "VOILUTFunction", "VOILUTSequence")


def _frame_view(ds: Any, frame: int) -> Any:
    """The attributes that map one frame's stored values to display values.

    Enhanced multi-frame files keep rescale and window in functional groups rather than at the top
    level, so copy the top-level values, then the shared group's, then the frame's own.
    """
    from pydicom.dataset import Dataset

    view = Dataset()
    for keyword in _FRAME_KEYWORDS:
        if keyword in ds:
            setattr(view, keyword, ds[keyword].value)
    groups = list(ds.get("SharedFunctionalGroupsSequence", []) or [])
    per_frame = ds.get("PerFrameFunctionalGroupsSequence", []) or []
    if frame < len(per_frame):
        groups.append(per_frame[frame])
    for group in groups:
        for sequence in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
            for item in group.get(sequence, []) or []:
                for keyword in _FRAME_KEYWORDS:
                    if keyword in item:
                        setattr(view, keyword, item[keyword].value)
    return view


def _resolve_window(window: Window, name: str) -> tuple[float, float] | None:
    """(centre, width) for a preset name or tuple; None means 'use the file's own window'."""
    if window is None:
        return None
    if isinstance(window, str):
        key = window.strip().lower().replace(" ", "_").replace("-", "_")
        if key not in WINDOW_PRESETS:
            raise ImageError(f"Unknown window {window!r} for {name}; use one of {', '.join(WINDOW_PRESETS)}, "
                             "or a (centre, width) tuple in HU.")
        return WINDOW_PRESETS[key]
    try:
        centre, width = (float(value) for value in window)
    except (TypeError, ValueError):
        raise ImageError(f"Window {window!r} for {name} is not a preset name or a (centre, width) pair.") from None
    if not (math.isfinite(centre) and math.isfinite(width)) or width <= 0:
        raise ImageError(f"Window {window!r} for {name} needs a finite centre and a width above 0.")
    return centre, width


def _file_window_to_uint8(values: np.ndarray, view: Any) -> np.ndarray | None:
    """Apply the file's VOI LUT or first WindowCenter/WindowWidth; None when it has neither."""
    if "VOILUTSequence" not in view and not ("WindowCenter" in view and "WindowWidth" in view):
        return None
    from pydicom.pixels import apply_voi_lut

    try:
        with np.errstate(over="ignore"):  # SIGMOID windows overflow exp() on the range probe; harmless
            windowed = apply_voi_lut(values, view, index=0)
            # pydicom maps into the data type's range; probing far below/above finds that range.
            low, high = (float(v) for v in apply_voi_lut(np.array([-1e12, 1e12]), view, index=0))
    except (ValueError, TypeError, IndexError, KeyError, AttributeError):
        return None  # a malformed window in the header: fall back to min-max rather than fail
    if not high > low:
        return None
    return window_to_uint8(windowed, low, high)


def _colour_to_rgb8(pixels: np.ndarray, ds: Any, name: str) -> np.ndarray:
    """RGB, YBR (already converted to RGB by pydicom) or palette colour pixels as 8-bit RGB."""
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        pixels = apply_color_lut(pixels, ds)  # uint8 or uint16, by the palette's bit depth
    if pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise ImageError(f"DICOM file {name} has photometric interpretation {photometric or 'unknown'} with pixel "
                         f"shape {pixels.shape}; only greyscale, RGB, YBR and palette colour are supported.")
    if pixels.dtype == np.uint8:
        return pixels
    maximum = 65535.0 if photometric == "PALETTE COLOR" else float(2 ** int(ds.get("BitsStored", 16)) - 1)
    return window_to_uint8(pixels.astype(np.float64), 0.0, maximum)


def read_dicom_image(path: str | os.PathLike, *, window: Window = None, frame: int = 0) -> Image.Image:
    """One DICOM image (or one frame) as 8-bit RGB, windowed by preset, (centre, width) or the file's own."""
    path = Path(path)
    with _damage_is_image_error(str(path)):
        return _read_dicom_image(path, window, frame)


def _read_dicom_image(path: Path, window: Window, frame: int) -> Image.Image:
    name = str(path)
    dataset = _read_dataset(path)
    if dataset is None:
        raise ImageError(f"File {name} is not a DICOM file, or is a damaged one (no DICOM header could be read); "
                         "check that it is the image itself, or export the image as PNG.")
    if not any(tag in dataset for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        kind = getattr(dataset.get("SOPClassUID"), "name", "") or "no image"
        raise ImageError(f"DICOM file {name} has no PixelData ({kind}); it may be a report, DICOMDIR or "
                         "presentation state. Point at an image file of the series instead.")
    pixel_count = int(dataset.get("Rows", 0) or 0) * int(dataset.get("Columns", 0) or 0)
    if pixel_count > MAX_PIXELS:
        raise ImageError(f"DICOM file {name} is {dataset.Columns} x {dataset.Rows} pixels, over the {MAX_PIXELS:,} "
                         "pixel limit; downscale it first (whole-slide pathology needs a tile reader).")
    frames = _frame_count(dataset)
    if not -frames <= frame < frames:
        raise ImageError(f"DICOM file {name} has {frames} frame{'s' if frames != 1 else ''}; "
                         f"frame={frame} is out of range (use 0 to {frames - 1}).")
    frame %= frames
    pixels = _decode(dataset, frame if frames > 1 else None, name)  # decodes only the frame asked for

    photometric = str(dataset.get("PhotometricInterpretation", "")).upper()
    if int(dataset.get("SamplesPerPixel", 1)) > 1 or photometric in ("RGB", "PALETTE COLOR") or pixels.ndim == 3:
        if window is not None:
            raise ImageError(f"DICOM file {name} is a colour image ({photometric}); windowing applies to "
                             "greyscale images only, so leave out window=.")
        return Image.fromarray(_colour_to_rgb8(pixels, dataset, name)).convert("RGB")

    from pydicom.pixels import apply_modality_lut

    view = _frame_view(dataset, frame)
    values = apply_modality_lut(pixels, view).astype(np.float64)  # stored values -> HU for CT
    chosen = _resolve_window(window, name)
    if chosen is not None:
        centre, width = chosen
        grey = window_to_uint8(values, centre - width / 2, centre + width / 2)
    else:
        from_file = _file_window_to_uint8(values, view)
        grey = from_file if from_file is not None else min_max_to_uint8(values)
    if photometric == "MONOCHROME1":
        grey = 255 - grey  # MONOCHROME1 stores dense as dark; invert after windowing so bright = dense
    return Image.fromarray(grey).convert("RGB")


# ---------------------------------------------------------------------------------------------
# CT series
# ---------------------------------------------------------------------------------------------


@dataclass
class CTVolume:
    """One series as a (slices, rows, cols) float32 array of modality values (HU for CT), in slice order."""

    hu: np.ndarray = field(repr=False)
    series_uid: str
    instance_numbers: list[int | None]
    modality: str = ""
    description: str = ""
    spacing: tuple[float, float, float] | None = None  # (between slices, rows, cols) in mm
    files: list[Path] = field(default_factory=list, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(slices, rows, cols)."""
        slices, rows, cols = self.hu.shape
        return int(slices), int(rows), int(cols)

    def __len__(self) -> int:
        return int(self.hu.shape[0])


def _instance_number(ds: Any) -> int | None:
    try:
        return int(ds.InstanceNumber)
    except (AttributeError, TypeError, ValueError):
        return None


def _position_along_normal(ds: Any) -> float | None:
    try:
        orientation = np.array([float(v) for v in ds.ImageOrientationPatient])
        position = np.array([float(v) for v in ds.ImagePositionPatient])
    except (AttributeError, TypeError, ValueError):
        return None
    if orientation.shape != (6,) or position.shape != (3,):
        return None
    normal = np.cross(orientation[:3], orientation[3:])
    return float(np.dot(position, normal))


def _slice_order(headers: list[Any], name: str) -> list[int]:
    """Indices of headers in slice order: InstanceNumber, else position along the slice normal."""
    numbers = [_instance_number(ds) for ds in headers]
    if None not in numbers and len(set(numbers)) == len(numbers):
        return sorted(range(len(headers)), key=lambda i: numbers[i])  # type: ignore[arg-type, return-value]
    positions = [_position_along_normal(ds) for ds in headers]
    if None not in positions and len(set(positions)) == len(positions):
        # Descending along the normal puts an axial series head first, the order scanners number in.
        return sorted(range(len(headers)), key=lambda i: -positions[i])  # type: ignore[operator]
    warnings.warn(f"Series in {name}: InstanceNumber and ImagePositionPatient are missing or repeated; "
                  "slices are in file-name order, which may be wrong.", stacklevel=3)
    return list(range(len(headers)))


def _slice_spacing(headers: list[Any]) -> tuple[float, float, float] | None:
    try:
        rows, cols = (float(v) for v in headers[0].PixelSpacing)
    except (AttributeError, TypeError, ValueError):
        return None
    positions = [_position_along_normal(ds) for ds in headers]
    if len(headers) > 1 and None not in positions:
        between = float(np.median(np.abs(np.diff(positions))))  # type: ignore[arg-type]
    else:
        between = float(headers[0].get("SpacingBetweenSlices", 0) or headers[0].get("SliceThickness", 0) or 0)
    return (between, rows, cols) if between > 0 else None


def _progress(items: list[Any], description: str) -> Any:
    if len(items) < _PROGRESS_FROM:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=description, unit="file")


def _series_label(uid: str, headers: list[Any]) -> str:
    description = str(headers[0].get("SeriesDescription", "") or "").strip() or "no description"
    modality = str(headers[0].get("Modality", "") or "").strip()
    modality = f" {modality}" if modality else ""
    count = f"{len(headers)} file{'s' if len(headers) != 1 else ''}"
    return f"{uid or '(no SeriesInstanceUID)'} '{description}'{modality} ({count})"


def load_ct_series(folder: str | os.PathLike) -> CTVolume:
    """Read one CT (or MR) series from a folder into HU, sorted into slice order."""
    folder = Path(folder).expanduser()
    name = str(folder)
    if not folder.is_dir():
        raise ImageError(f"CT series folder {name} is not a folder; give the folder that holds one series' "
                         "DICOM files (use mh.load_image for a single file).")
    _pydicom()
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.name.upper() != "DICOMDIR")
    series: dict[str, list[tuple[Path, Any]]] = {}
    for path in _progress(candidates, "Reading headers"):
        with _damage_is_image_error(str(path)):
            header = _read_dataset(path, stop_before_pixels=True)
            if header is None or "Rows" not in header:
                continue  # text notes, DICOMDIR-like indexes, reports: not slices
            series.setdefault(str(header.get("SeriesInstanceUID", "")), []).append((path, header))
    if not series:
        subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir())
        hint = f" It has subfolders ({', '.join(subfolders[:5])}); point at one series' folder." if subfolders else ""
        raise ImageError(f"CT series folder {name} holds no DICOM images.{hint}")
    with _damage_is_image_error(name, "A DICOM header in the series folder"):
        if len(series) > 1:
            listing = "; ".join(_series_label(uid, [h for _, h in members])
                                for uid, members in sorted(series.items(), key=lambda item: -len(item[1])))
            raise ImageError(f"CT series folder {name} holds {len(series)} series: {listing}. "
                             "Point load_ct_series at one series' folder (move the others out).")
        return _series_volume(name, series)


def _series_volume(name: str, series: dict[str, list[tuple[Path, Any]]]) -> CTVolume:
    """The one series' slices read, checked and stacked in slice order."""
    uid, members = next(iter(series.items()))
    headers = [header for _, header in members]
    if len(members) == 1 and _frame_count(headers[0]) > 1:
        with _damage_is_image_error(str(members[0][0])):
            return _load_multiframe(members[0][0], uid, name)
    order = _slice_order(headers, name)
    members = [members[i] for i in order]
    slices = []
    for path, _ in _progress(members, "Reading slices"):
        with _damage_is_image_error(str(path)):
            dataset = _read_dataset(path)
            if dataset is None:
                raise ImageError(f"DICOM file {path} in {name} could not be read a second time; is it still being "
                                 "copied?")
            slices.append((path, _slice_values(dataset, str(path))))
    shapes = {values.shape for _, values in slices}
    if len(shapes) > 1:
        first = slices[0]
        odd = next((p, v) for p, v in slices if v.shape != first[1].shape)
        raise ImageError(f"Slices in {name} differ in size: {first[0].name} is {first[1].shape}, {odd[0].name} is "
                         f"{odd[1].shape}. A series needs one slice size; is a scout or localiser mixed in?")
    ordered_headers = [header for _, header in members]
    return CTVolume(
        hu=np.stack([values for _, values in slices]).astype(np.float32),
        series_uid=uid,
        instance_numbers=[_instance_number(ds) for ds in ordered_headers],
        modality=str(ordered_headers[0].get("Modality", "") or ""),
        description=str(ordered_headers[0].get("SeriesDescription", "") or ""),
        spacing=_slice_spacing(ordered_headers),
        files=[path for path, _ in members],
    )


def _slice_values(dataset: Any, name: str, frame: int | None = None) -> np.ndarray:
    """One slice's modality values (HU for CT) as float64."""
    from pydicom.pixels import apply_modality_lut

    if "PixelData" not in dataset:
        raise ImageError(f"DICOM file {name} has no PixelData; remove it from the series folder.")
    pixels = _decode(dataset, frame, name)
    if pixels.ndim != 2:
        raise ImageError(f"DICOM file {name} is not one greyscale slice (pixel shape {pixels.shape}); a series "
                         "folder should hold single-frame greyscale slices, or one multi-frame file alone.")
    return apply_modality_lut(pixels, _frame_view(dataset, frame or 0)).astype(np.float64)


def _load_multiframe(path: Path, uid: str, name: str) -> CTVolume:
    """An enhanced (multi-frame) series stored as one file: frames in stored order."""
    dataset = _read_dataset(path)
    if dataset is None:
        raise ImageError(f"DICOM file {path} in {name} could not be read.")
    frames = [_slice_values(dataset, str(path), index) for index in range(_frame_count(dataset))]
    return CTVolume(hu=np.stack(frames).astype(np.float32), series_uid=uid,
                    instance_numbers=list(range(1, len(frames) + 1)),
                    modality=str(dataset.get("Modality", "") or ""),
                    description=str(dataset.get("SeriesDescription", "") or ""), spacing=None, files=[path])


# ---------------------------------------------------------------------------------------------
# MedGemma 1.5 CT / MRI input
# ---------------------------------------------------------------------------------------------


def sample_slice_indices(count: int, max_slices: int = MAX_SLICES) -> list[int]:
    """At most max_slices indices spread uniformly over range(count), always including both ends."""
    if count < 1 or max_slices < 1:
        raise ImageError(f"Cannot sample slices: the volume has {count} slices and max_slices is {max_slices}.")
    if count <= max_slices:
        return list(range(count))
    # Google's notebook takes round(i / 85 * (n - 1)) for i = 1..85, which skips slice 0; linspace
    # keeps both ends so the top and bottom of the scan are always seen.
    return [int(i) for i in np.unique(np.rint(np.linspace(0, count - 1, max_slices)).astype(int))]


def as_volume(volume: CTVolume | np.ndarray, name: str = "volume") -> np.ndarray:
    """The (slices, rows, cols) values of a CTVolume or array, checked."""
    values = volume.hu if isinstance(volume, CTVolume) else np.asarray(volume)
    if values.ndim != 3 or 0 in values.shape:
        raise ImageError(f"The {name} has shape {values.shape}; give a CTVolume or a (slices, rows, cols) array.")
    if not np.issubdtype(values.dtype, np.number):
        raise ImageError(f"The {name} has dtype {values.dtype}; give numeric HU values.")
    return values


def ct_rgb(hu_slice: np.ndarray) -> np.ndarray:
    """One HU slice as an (rows, cols, 3) uint8 array: R wide, G soft-tissue, B brain window."""
    return np.stack([window_to_uint8(hu_slice, low, high) for low, high in CT_CHANNEL_WINDOWS], axis=-1)


def ct_windows(volume: CTVolume | np.ndarray, max_slices: int = MAX_SLICES) -> list[Image.Image]:
    """Up to max_slices uniformly sampled slices, each encoded as MedGemma 1.5's three-window RGB."""
    if isinstance(volume, CTVolume) and volume.modality and volume.modality.upper() != "CT":
        warnings.warn(f"ct_windows expects CT in HU but this series is {volume.modality}; "
                      "use mh.mri_windows for MR.", stacklevel=2)
    values = as_volume(volume)
    return [Image.fromarray(ct_rgb(values[i])) for i in sample_slice_indices(values.shape[0], max_slices)]


def mri_windows(volume: CTVolume | np.ndarray, max_slices: int = MAX_SLICES) -> list[Image.Image]:
    """Up to max_slices sampled slices, min-max normalised over the whole volume into all three channels."""
    values = as_volume(volume).astype(np.float64)
    indices = sample_slice_indices(values.shape[0], max_slices)
    # One range for the whole volume (not per slice), so slices keep their relative brightness.
    grey = min_max_to_uint8(values)
    return [Image.fromarray(grey[i]).convert("RGB") for i in indices]


def slice_labels(indices: Sequence[int] | int) -> list[str]:
    """["SLICE 1", ..., "SLICE k"]: the text after each slice image, numbered in prompt order from 1."""
    # Google's notebook numbers the sampled slices 1..k in order (enumerate(slices, 1)), not by their
    # index in the full series, so the labels depend only on how many slices are sent.
    count = indices if isinstance(indices, int) else len(indices)
    return [f"SLICE {number}" for number in range(1, count + 1)]


def render_slice(volume: CTVolume | np.ndarray, index: int, view: str = "ct") -> Image.Image:
    """One slice of a volume as RGB: 'ct' (three-window), a preset name, or 'minmax'."""
    values = as_volume(volume)
    hu = values[index]
    if view == "ct":
        return Image.fromarray(ct_rgb(hu))
    if view == "minmax":
        return Image.fromarray(min_max_to_uint8(values[index])).convert("RGB")
    centre, width = _resolve_window(view, "the slice")  # type: ignore[misc]
    return Image.fromarray(window_to_uint8(hu, centre - width / 2, centre + width / 2)).convert("RGB")


def browser_views(modality: str) -> list[tuple[str, str]]:
    """The (label, view) choices a slice browser offers for a series of this modality, best first."""
    views = [("MedGemma CT (R wide, G soft tissue, B brain)", "ct")]
    views += [(f"{key.replace('_', ' ')} ({int(c)}/{int(w)})", key) for key, (c, w) in WINDOW_PRESETS.items()]
    views.append(("min-max", "minmax"))
    if modality.upper() not in ("", "CT"):
        views.insert(0, views.pop())  # MR and others have no HU: min-max first
    return views
