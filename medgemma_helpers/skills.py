"""MedGemma 1.5's other imaging skills: CT volumes, anatomy localisation, prior-versus-current comparison."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .boxes import LOCALISATION_PROMPT, Box, BoxParseWarning, draw_boxes, parse_boxes
from .dicom import MAX_SLICES, CTVolume, ct_windows, load_ct_series, montage, mri_windows, slice_labels
from .errors import ImageError
from .generate import DEFAULT_MAX_NEW_TOKENS, Findings, _check_request, analyze
from .images import load_image, pad_square
from .render import esc, in_notebook, show_html

# ---------------------------------------------------------------- CT and MRI volumes

# Google's MedGemma 1.5 CT notebook opens with this instruction, then image / "SLICE n" pairs, then the question.
CT_INTRO = ("You are an instructor teaching medical students. You are analyzing a contiguous block of CT slices. "
            "Please review the slices provided below carefully.")
MRI_INTRO = CT_INTRO.replace("CT slices", "MRI slices")
VOLUME_QUESTION_PREFIX = "Based on the visual evidence in the slices provided above, "


def volume_request(volume: CTVolume | np.ndarray, question: str, *, modality: str = "CT",
                   max_slices: int = MAX_SLICES) -> tuple[list[Image.Image], list[str], str, str]:
    """The images, their "SLICE n" labels, the intro and the question, as MedGemma 1.5 reads a volume."""
    if modality.upper() not in ("CT", "MR", "MRI"):
        raise ImageError(f"modality={modality!r}: volumes are read as 'CT' or 'MRI'.")
    is_ct = modality.upper() == "CT"
    images = ct_windows(volume, max_slices) if is_ct else mri_windows(volume, max_slices)
    full_question = question if question.lower().startswith("based on") else \
        VOLUME_QUESTION_PREFIX + question[:1].lower() + question[1:]
    return images, slice_labels(len(images)), CT_INTRO if is_ct else MRI_INTRO, full_question


def analyze_volume(volume: CTVolume | np.ndarray | str | Path, question: str, *, model: Any = None,
                   modality: str = "CT", max_slices: int = MAX_SLICES,
                   max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, stream: bool = True) -> Findings:
    """Ask about a CT (three-window RGB) or MRI (min-max) volume: at most 85 slices, each labelled SLICE n."""
    _check_request(question, max_new_tokens)
    if isinstance(volume, (str, Path)):
        volume = load_ct_series(volume)
    images, labels, intro, full_question = volume_request(volume, question, modality=modality, max_slices=max_slices)
    return analyze(images, full_question, model=model, image_labels=labels, intro=intro,
                   max_new_tokens=max_new_tokens, stream=stream)


def write_demo_ct_series(folder: str | Path, slices: int = 24, size: int = 96) -> Path:
    """Write a synthetic CT phantom series (air, fat, soft tissue, lung, bone in known HU) as DICOM files."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid = generate_uid(), generate_uid()
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    for index in range(slices):
        z = index / max(slices - 1, 1) - 0.5
        hu = np.full((size, size), -1000.0)  # air
        body = (x / 0.45) ** 2 + (y / 0.35) ** 2 <= 1
        hu[body] = -100.0  # subcutaneous fat
        hu[(x / 0.40) ** 2 + (y / 0.30) ** 2 <= 1] = 40.0  # soft tissue
        for side in (-1, 1):  # lungs, shrinking towards the ends of the volume
            lung = ((x - side * 0.17) / (0.14 * (1 - abs(z)))) ** 2 + (y / 0.22) ** 2 <= 1
            hu[lung] = -850.0
        hu[(x ** 2 + (y - 0.24) ** 2) <= 0.03 ** 2] = 1000.0  # vertebral body
        if abs(z) < 0.2:  # a "lesion" in the middle slices, for the model to find (or not)
            hu[((x + 0.17) ** 2 + (y + 0.05) ** 2) <= 0.035 ** 2] = 30.0
        dataset = pydicom.Dataset()
        dataset.file_meta = FileMetaDataset()
        dataset.file_meta.MediaStorageSOPClassUID = CTImageStorage
        dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        dataset.SOPClassUID, dataset.SOPInstanceUID = CTImageStorage, dataset.file_meta.MediaStorageSOPInstanceUID
        dataset.Modality, dataset.SeriesDescription = "CT", "Synthetic teaching phantom"
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
        dataset.InstanceNumber = index + 1
        dataset.ImagePositionPatient = [0.0, 0.0, float(index * 5)]
        dataset.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        dataset.PixelSpacing, dataset.SliceThickness = [1.0, 1.0], 5.0
        dataset.Rows = dataset.Columns = size
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 12, 11, 0
        dataset.RescaleIntercept, dataset.RescaleSlope = -1024.0, 1.0
        dataset.PixelData = np.clip(hu + 1024, 0, 4095).astype(np.uint16).tobytes()
        dataset.save_as(folder / f"slice_{index + 1:03d}.dcm", enforce_file_format=True)
    return folder


def show_volume(volume: CTVolume | np.ndarray, *, modality: str = "CT", max_slices: int = MAX_SLICES) -> Any:
    """A slice browser with a window selector in a notebook, or a montage of the sampled slices elsewhere."""
    from .dicom import slice_browser

    if in_notebook():
        return slice_browser(volume)
    images = ct_windows(volume, max_slices) if modality.upper() == "CT" else mri_windows(volume, max_slices)
    return montage(images, labels=slice_labels(len(images)))


# ---------------------------------------------------------------- localisation


def localize(image: Any, structures: str, *, model: Any = None, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
             stream: bool = True) -> tuple[Findings, list[Box]]:
    """Ask for boxes around structures (e.g. "right lung, left lung, heart"); boxes in the original image's pixels."""
    original = load_image(image)
    findings = analyze(pad_square(original), LOCALISATION_PROMPT.format(structures=structures), model=model,
                       max_new_tokens=max_new_tokens, stream=stream)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BoxParseWarning)
        boxes = parse_boxes(findings.text, original, padded=True)
    for warning in caught:
        print(f"Note: {warning.message}")
    return findings, boxes


def show_boxes(image: Any, boxes: list[Box]) -> None:
    """Show the image with the boxes and their labels drawn on it (mh.draw_boxes returns the image instead)."""
    if not boxes:
        print("No boxes to draw: the film is shown as it is.")
    drawn = draw_boxes(load_image(image), boxes)
    if in_notebook():
        from IPython.display import display

        drawn.thumbnail((900, 900))  # boxes are drawn at full resolution, shown at a screen's size
        display(drawn)


# ---------------------------------------------------------------- prior versus current

COMPARISON_PROMPT = (
    "The first image is the prior chest X-ray and the second image is the current chest X-ray of the same patient. "
    "Provide a comparison of these two images and include details from the image which students should take note "
    "of when reading longitudinal CXR. End with a Markdown table with the columns Finding | Change | Details, where "
    "Change is one of improved, stable, worsened, new or resolved."
)
CHANGE_WORDS = ("improved", "stable", "worsened", "new", "resolved")


@dataclass(frozen=True)
class Change:
    """One row of a prior-versus-current change table."""

    finding: str
    change: str  # one of CHANGE_WORDS
    details: str


def parse_changes(text: str) -> list[Change]:
    """The change table from a comparison answer (Markdown table rows whose change is a known word)."""
    from .generate import split_thinking

    changes = []
    for line in split_thinking(text or "")[0].splitlines():
        cells = [cell.strip(" *_`") for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or set(line.strip()) <= set("|-: "):
            continue
        word = cells[1].lower()
        normalised = {"unchanged": "stable", "worse": "worsened", "better": "improved", "progressed": "worsened",
                      "increased": "worsened", "decreased": "improved"}.get(word, word)
        if normalised in CHANGE_WORDS and cells[0]:
            changes.append(Change(cells[0], normalised, cells[2] if len(cells) > 2 else ""))
    return changes


_CHANGE_COLOURS = {"improved": "#d4edda", "resolved": "#d4edda", "stable": "#e2e3e5", "worsened": "#f8d7da",
                   "new": "#f8d7da"}


def changes_html(changes: list[Change]) -> str:
    """The change table as colour-coded HTML (every cell escaped)."""
    if not changes:
        return "<p><i>The answer holds no change table (improved / stable / worsened).</i></p>"
    rows = "".join(f"<tr style='background:{_CHANGE_COLOURS[c.change]};color:#222'><td>{esc(c.finding)}</td>"
                   f"<td>{esc(c.change)}</td><td>{esc(c.details)}</td></tr>" for c in changes)
    return f"<table class='mh-changes'><tr><th>Finding</th><th>Change</th><th>Details</th></tr>{rows}</table>"


def compare_studies(prior: Any, current: Any, prompt: str = COMPARISON_PROMPT, *, model: Any = None,
                    pad_to_square: bool = True, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                    stream: bool = True) -> tuple[Findings, list[Change]]:
    """Prior first, then current, then the question; returns the answer and its change table."""
    images = [load_image(prior, pad_to_square=pad_to_square), load_image(current, pad_to_square=pad_to_square)]
    findings = analyze(images, prompt, model=model, max_new_tokens=max_new_tokens, stream=stream)
    changes = parse_changes(findings.text)
    show_html(changes_html(changes), "\n".join(f"{c.finding}: {c.change} {c.details}" for c in changes)
              or "(no change table in the answer)")
    return findings, changes


def pair_image(prior: Any, current: Any, *, labels: tuple[str, str] = ("Prior", "Current")) -> Image.Image:
    """The two studies side by side, labelled, as one image."""
    first, second = load_image(prior), load_image(current)
    height = 512
    tiles = [image.resize((max(1, round(image.width * height / image.height)), height)) for image in (first, second)]
    canvas = Image.new("RGB", (tiles[0].width + tiles[1].width + 16, height + 28), (255, 255, 255))
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas)
    offset = 0
    for tile, label in zip(tiles, labels):
        canvas.paste(tile, (offset, 28))
        draw.text((offset + 4, 6), label, fill=(0, 0, 0))
        offset += tile.width + 16
    return canvas


def show_pair(prior: Any, current: Any, *, labels: tuple[str, str] = ("Prior", "Current")) -> None:
    """Show the two studies side by side, labelled (in a terminal, print their sizes)."""
    canvas = pair_image(prior, current, labels=labels)
    if in_notebook():
        from IPython.display import display

        display(canvas)
    else:
        print(f"{labels[0]} and {labels[1]} side by side: {canvas.width} x {canvas.height} pixels.")
