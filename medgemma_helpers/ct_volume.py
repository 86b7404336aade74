"""A CT or MRI volume read the way MedGemma 1.5 was trained to: at most 85 slices, each "SLICE n", one question.

Layer: skills. May import: errors, images, dicom, figures, asking.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .asking import DEFAULT_MAX_NEW_TOKENS, Findings, analyze, check_request
from .dicom import MAX_SLICES, CTVolume, ct_windows, load_ct_series, mri_windows, slice_labels
from .errors import ImageError
from .figures import slice_browser

# Google's MedGemma 1.5 CT notebook opens with this instruction, then image / "SLICE n" pairs, then the question.
CT_INTRO = ("You are an instructor teaching medical students. You are analyzing a contiguous block of CT slices. "
            "Please review the slices provided below carefully.")


MRI_INTRO = CT_INTRO.replace("CT slices", "MRI slices")


VOLUME_QUESTION_PREFIX = "Based on the visual evidence in the slices provided above, "
# The question notebook 07 asks of its volume (a class pack records it: the notebook and the pack share it).
NOTEBOOK_QUESTION = "Is there a focal lung lesion? If so, in which lung and on which slices?"


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
