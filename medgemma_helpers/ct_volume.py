"""A CT or MRI volume read the way MedGemma 1.5 was trained to: at most 85 slices, each "SLICE n", one question.

Layer: skills. May import: errors, images, dicom, figures, asking.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .asking import DEFAULT_MAX_NEW_TOKENS, Findings, analyze, check_request
from .dicom import (
    CT_CHANNEL_WINDOWS,
    MAX_SLICES,
    CTVolume,
    as_volume,
    ct_rgb,
    ct_windows,
    load_ct_series,
    mri_windows,
    sample_slice_indices,
    slice_labels,
)
from .errors import ImageError
from .figures import slice_browser

# Google's MedGemma 1.5 CT notebook (github.com/google-health/medgemma, notebooks/high_dimensional_ct_hugging_face.ipynb
# at commit d89262cd89e1d281eddbecb21fa83584a508f46f) sends one user turn: this instruction as a text part, then an
# image part and a "SLICE n" text part per slice, then the question as a text part opening with two newlines and
# "Based on the visual evidence in the slices provided above, "; greedy, up to 2,000 new tokens. Its instruction
# names its series' region ("from the center of the abdomen"); ours leaves the region out, as series differ.
CT_INTRO = ("You are an instructor teaching medical students. You are analyzing a contiguous block of CT slices. "
            "Please review the slices provided below carefully.")


MRI_INTRO = CT_INTRO.replace("CT slices", "MRI slices")


# Google's question part opens with two newlines. Gemma's chat template trims every text part, so the model reads
# "SLICE 85Based on ..." either way; they are kept so that the messages are Google's exactly.
VOLUME_QUESTION_PREFIX = "\n\nBased on the visual evidence in the slices provided above, "
# Google's CT notebook gives a volume read up to 2,000 new tokens (MEDGEMMA_MAX_NEW_TOKENS, when set, asks for less).
VOLUME_MAX_NEW_TOKENS = DEFAULT_MAX_NEW_TOKENS if os.environ.get("MEDGEMMA_MAX_NEW_TOKENS", "").strip() else 2000
# The question notebook 07 asks of its volume (a class pack records it: the notebook and the pack share it).
NOTEBOOK_QUESTION = "Is there a focal lung lesion? If so, in which lung and on which slices?"


def volume_request(volume: CTVolume | np.ndarray, question: str, *, modality: str = "CT",
                   max_slices: int = MAX_SLICES) -> tuple[list[Image.Image], list[str], str, str]:
    """The images, their "SLICE n" labels, the intro and the question, as MedGemma 1.5 reads a volume."""
    if modality.upper() not in ("CT", "MR", "MRI"):
        raise ImageError(f"modality={modality!r}: volumes are read as 'CT' or 'MRI'.")
    is_ct = modality.upper() == "CT"
    images = ct_windows(volume, max_slices) if is_ct else mri_windows(volume, max_slices)
    stripped = question.strip()
    full_question = "\n\n" + stripped if stripped.lower().startswith("based on") else \
        VOLUME_QUESTION_PREFIX + stripped[:1].lower() + stripped[1:]
    return images, slice_labels(len(images)), CT_INTRO if is_ct else MRI_INTRO, full_question


def analyze_volume(volume: CTVolume | np.ndarray | str | Path, question: str, *, model: Any = None,
                   modality: str = "CT", max_slices: int = MAX_SLICES,
                   max_new_tokens: int = VOLUME_MAX_NEW_TOKENS, stream: bool = True) -> Findings:
    """Ask about a CT (three-window RGB) or MRI (min-max) volume: at most 85 slices, each labelled SLICE n."""
    check_request(question, max_new_tokens)
    if isinstance(volume, (str, Path)):
        volume = load_ct_series(volume)
    images, labels, intro, full_question = volume_request(volume, question, modality=modality, max_slices=max_slices)
    return analyze(images, full_question, model=model, image_labels=labels, intro=intro,
                   max_new_tokens=max_new_tokens, stream=stream)


def show_volume(volume: CTVolume | np.ndarray, *, modality: str = "CT", max_slices: int = MAX_SLICES) -> Any:
    """A slice browser with a window selector in a notebook, or a montage of the sampled slices elsewhere."""
    images = ct_windows(volume, max_slices) if modality.upper() == "CT" else mri_windows(volume, max_slices)
    return slice_browser(volume, sampled=images, labels=slice_labels(len(images)))


def sent_slices(volume: CTVolume | np.ndarray, max_slices: int = MAX_SLICES) -> list[tuple[str, int | None]]:
    """Each slice the model is sent: its label in the prompt ("SLICE k") and its DICOM instance number."""
    values = as_volume(volume)
    indices = sample_slice_indices(values.shape[0], max_slices)
    # A bare array has no instance numbers: number its slices from 1, as a series would (None: the file had none).
    numbers: list[int | None] = list(volume.instance_numbers) if isinstance(volume, CTVolume) else \
        list(range(1, values.shape[0] + 1))
    return [(label, numbers[index]) for label, index in zip(slice_labels(len(indices)), indices)]


def ct_channels(volume: CTVolume | np.ndarray, index: int) -> tuple[list[Image.Image], list[str]]:
    """One slice as the model gets it, split: its red, green and blue channels (each a window) and the colour image."""
    values = as_volume(volume)
    if not 0 <= index < values.shape[0]:
        raise ImageError(f"Slice index {index} is outside the volume's {values.shape[0]} slices (0 to "
                         f"{values.shape[0] - 1}).")
    rgb = ct_rgb(values[index])
    names = ("red", "green", "blue")
    labels = [f"{name}: {low:g} to {high:g} HU" for name, (low, high) in zip(names, CT_CHANNEL_WINDOWS)]
    return [Image.fromarray(rgb[..., channel]).convert("RGB") for channel in range(3)] + [Image.fromarray(rgb)], \
        labels + ["the colour image sent"]
