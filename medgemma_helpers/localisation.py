"""Anatomy localisation: ask MedGemma 1.5 for boxes, read them back onto the original film, and draw them.

MedGemma 1.5 answers a localisation prompt with boxes `[y0, x0, y1, x1]` normalised to 0-1000 over the (square)
image it was given, in a ```json block of {"box_2d": ..., "label": ...} items. The film is padded to a centred
square first (images.model_image), so the boxes map back through that padding onto the original pixels.

Layer: skills. May import: errors, render, images, figures, asking.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from .asking import DEFAULT_MAX_NEW_TOKENS, Findings, analyze, split_thinking
from .figures import font
from .images import load_image, model_image, pads_to_square
from .render import in_notebook

# Google's wording, kept as is (including "normalize ... the range") because it is the prompt the
# model was shown to work with; literal braces are doubled for str.format. Fill in {structures}.
LOCALISATION_PROMPT = (
    "Instructions:\n"
    "The following user query will require outputting bounding boxes. The format of bounding boxes "
    "coordinates is [y0, x0, y1, x1] where (y0, x0) must be top-left corner and (y1, x1) the bottom-right "
    "corner. This implies that x0 < x1 and y0 < y1. Always normalize the x and y coordinates the range "
    "[0, 1000], meaning that a bounding box starting at 15% of the image width would be associated with an "
    "x coordinate of 150. You MUST output a single parseable json list of objects enclosed into ```json...``` "
    'brackets, for instance ```json[{{"box_2d": [800, 3, 840, 471], "label": "car"}}, '
    '{{"box_2d": [400, 22, 600, 73], "label": "dog"}}]``` is a valid output. Now answer to the user query.\n'
    "\n"
    'Remember "left" refers to the patient\'s left side where the heart is and sometimes underneath an L in '
    "the upper right corner of the image.\n"
    "\n"
    "Query:\n"
    "Where is the {structures}? Don't give a final answer without reasoning. Output the final answer in the "
    'format "Final Answer: X" where X is a JSON list of objects. The object needs a "box_2d" and "label" key. '
    "Answer:"
)


# The structures notebook 08 asks about, one per question as Google's localisation notebook asks
# (github.com/google-health/medgemma, notebooks/cxr_anatomy_localization_with_hugging_face.ipynb: its example is
# "right clavicle"), by the anatomical names of Chest ImaGenome, the bounding-box data MedGemma 1.5 was trained on
# ("cardiac silhouette", not "heart"). A class pack records each: the notebook and the pack share them.
NOTEBOOK_STRUCTURES = ("right lung", "left lung", "cardiac silhouette", "right clavicle")
SCALE = 1000  # box_2d coordinates run 0..1000 across the model's (square) input image
# Google's localisation notebook gives each answer up to 1,000 new tokens (MEDGEMMA_MAX_NEW_TOKENS asks for less).
LOCALISATION_MAX_NEW_TOKENS = DEFAULT_MAX_NEW_TOKENS if os.environ.get("MEDGEMMA_MAX_NEW_TOKENS", "").strip() else 1000


ImageOrSize = Image.Image | tuple[int, int]


class BoxParseWarning(UserWarning):
    """The model's answer held no usable boxes, or some boxes were skipped."""


@dataclass(frozen=True)
class Box:
    """A labelled box in the original image's pixels: (x0, y0) top-left, (x1, y1) bottom-right."""

    label: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        """x1 - x0 in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        """y1 - y0 in pixels."""
        return self.y1 - self.y0


def _size(image: ImageOrSize) -> tuple[int, int]:
    width, height = image.size if isinstance(image, Image.Image) else image
    if width <= 0 or height <= 0:
        raise ValueError(f"Image size {width} x {height} must be positive.")
    return int(width), int(height)


def _frame(width: int, height: int, padded: bool) -> tuple[float, float, float, float]:
    """(x scale, y scale, x offset, y offset) from 0-1000 units to original pixels."""
    if not padded:
        return width / SCALE, height / SCALE, 0.0, 0.0
    side = max(width, height)
    # Same offsets as images.pad_square, which centres the original on a black square.
    return side / SCALE, side / SCALE, float((side - width) // 2), float((side - height) // 2)


def to_box_2d(box: Box, image: ImageOrSize, *, padded: bool = True) -> list[float]:
    """The [y0, x0, y1, x1] 0-1000 coordinates the model would give for a box in original pixels."""
    width, height = _size(image)
    sx, sy, ox, oy = _frame(width, height, padded)
    return [(box.y0 + oy) / sy, (box.x0 + ox) / sx, (box.y1 + oy) / sy, (box.x1 + ox) / sx]


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.DOTALL)  # a missing closing fence: up to the end


_TRAILING_COMMA = re.compile(r",\s*([\]}])")


def _load_json(fragment: str) -> Any:
    """json.loads, forgiving the trailing commas small models often leave; raises ValueError."""
    try:
        return json.loads(fragment)
    except ValueError:
        return json.loads(_TRAILING_COMMA.sub(r"\1", fragment))


def _as_items(value: Any) -> list[Any] | None:
    """A parsed block as a list of box items, or None when it is not box data."""
    if isinstance(value, dict):
        value = [value] if "box_2d" in value else value.get("boxes", value.get("objects"))
    return value if isinstance(value, list) else None


def _bare_lists(text: str) -> list[list[Any]]:
    """Every JSON list in free text whose items look like boxes (for answers without a fence)."""
    decoder = json.JSONDecoder()
    found, position = [], text.find("[")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("[", position + 1)
            continue
        if isinstance(value, list) and any(isinstance(item, dict) and "box_2d" in item for item in value):
            found.append(value)
            position = text.find("[", end)
        else:
            position = text.find("[", position + 1)
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def parse_boxes(text: str, image: ImageOrSize, *, padded: bool = True) -> list[Box]:
    """The boxes in a MedGemma answer, in the original image's pixels; [] with a warning when there are none.

    The last ```json block that parses wins: Google's prompt asks for reasoning first and a final
    answer last, so earlier blocks are drafts. Without a fenced block, the last bare JSON list of
    box_2d items is used. padded=True undoes the centred square padding of images.pad_square.
    """
    width, height = _size(image)
    answer = split_thinking(text or "")[0]
    items: list[Any] | None = None
    bad_blocks = 0
    for block in reversed(_FENCE.findall(answer)):
        try:
            items = _as_items(_load_json(block.strip()))
        except ValueError:
            items = None
        if items is not None:
            break
        bad_blocks += 1
    if items is None:
        bare = _bare_lists(answer)
        items = bare[-1] if bare else None
    if items is None:
        reason = (f"{bad_blocks} ```json block{'s' if bad_blocks != 1 else ''} that did not parse as a JSON list"
                  if bad_blocks else "no ```json block or JSON list")
        warnings.warn(f"No boxes found in the model's answer: {reason}. Try again, or raise max_new_tokens "
                      "if the answer was cut off.", BoxParseWarning, stacklevel=2)
        return []

    sx, sy, ox, oy = _frame(width, height, padded)
    boxes, skipped = [], []
    for number, item in enumerate(items, 1):
        coordinates = item.get("box_2d") if isinstance(item, dict) else None
        values = [_number(v) for v in coordinates] if isinstance(coordinates, (list, tuple)) else []
        numbers = [v for v in values if v is not None]
        if len(values) != 4 or len(numbers) != 4:
            skipped.append(f"item {number}: box_2d is not four numbers ({coordinates!r})")
            continue
        y0, x0, y1, x1 = (min(max(v, 0.0), SCALE) for v in numbers)
        # Reversed corners are a slip in ordering, not a different box: sort each pair.
        y0, y1 = sorted((y0, y1))
        x0, x1 = sorted((x0, x1))
        left, right = (min(max(x * sx - ox, 0.0), width) for x in (x0, x1))
        top, bottom = (min(max(y * sy - oy, 0.0), height) for y in (y0, y1))
        if right <= left or bottom <= top:
            skipped.append(f"item {number}: no area inside the image (it lies in the padding or is a line)")
            continue
        label = item.get("label", "")
        boxes.append(Box(str(label) if label is not None else "", left, top, right, bottom))
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} of {len(items)} boxes: " + "; ".join(skipped),
                      BoxParseWarning, stacklevel=2)
    return boxes


# Colour-blind-safe (Okabe-Ito) colours, bright enough to see on a grey radiograph.
COLOURS = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
           (204, 121, 167), (255, 255, 255)]


def draw_boxes(image: Image.Image, boxes: Sequence[Box]) -> Image.Image:
    """A copy of the image with each box outlined in its own colour and its label written above it."""
    canvas = image.convert("RGB")  # convert always copies, so the caller's image is untouched
    draw = ImageDraw.Draw(canvas)
    short_side = min(canvas.size)
    line = max(2, round(short_side / 300))
    typeface = font(max(12, short_side // 40))
    for number, box in enumerate(boxes):
        colour = COLOURS[number % len(COLOURS)]
        draw.rectangle((box.x0, box.y0, box.x1, box.y1), outline=colour, width=line)
        if not box.label:
            continue
        left, top, right, bottom = draw.textbbox((0, 0), box.label, font=typeface)
        text_height = bottom - top + 4
        # Above the box when there is room, else just inside its top edge.
        y = box.y0 - text_height - line if box.y0 - text_height - line >= 0 else box.y0 + line
        strip_width = right - left + 4
        # The strip's rectangle includes its right column, so it ends on the film's last column at most.
        x = min(max(box.x0, 0), max(canvas.width - strip_width - 1, 0))
        draw.rectangle((x, y, x + strip_width, y + text_height), fill=colour)
        draw.text((x + 2 - left, y + 2 - top), box.label, fill=(0, 0, 0), font=typeface)
    return canvas


def localize(image: Any, structures: str, *, model: Any = None, modality: str = "chest radiograph",
             max_new_tokens: int = LOCALISATION_MAX_NEW_TOKENS, stream: bool = True) -> tuple[Findings, list[Box]]:
    """Ask where a structure is (one per question, e.g. "right clavicle", as Google does); boxes in original pixels.

    The image goes to the model prepared for its modality (a chest film padded to a square), and the boxes come
    back through the same preparation, so they land on the original film.
    """
    original = load_image(image)
    findings = analyze(model_image(original, modality=modality), LOCALISATION_PROMPT.format(structures=structures),
                       model=model, max_new_tokens=max_new_tokens, stream=stream)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BoxParseWarning)
        boxes = parse_boxes(findings.text, original, padded=pads_to_square(modality))
    for warning in caught:
        print(f"Note: {warning.message}")
    return findings, boxes


@dataclass(frozen=True)
class SideCheck:
    """Where a box for a sided structure lies against the film's midline, on a film displayed as radiographs are."""

    structure: str
    named_side: str  # "right" or "left": the patient's side the structure's name gives
    centre_x: float  # the box's centre, in the film's pixels
    midline_x: float

    @property
    def found_side(self) -> str:
        """The patient's side the box lies on: the viewer's left is the patient's right."""
        return "right" if self.centre_x < self.midline_x else "left"

    @property
    def agrees(self) -> bool:
        """True when the box lies on the side its name gives."""
        return self.found_side == self.named_side

    def __str__(self) -> str:
        viewer = "left" if self.found_side == "right" else "right"
        verdict = "as its name says" if self.agrees else f"WRONG SIDE: the {self.structure} is on the patient's " \
                                                          f"{self.named_side}"
        return (f"{self.structure}: box centre at x = {self.centre_x:.0f}, midline at x = {self.midline_x:.0f}: "
                f"on the patient's {self.found_side} (the viewer's {viewer}), {verdict}.")


def side_checks(found: dict[str, list[Box]], image: ImageOrSize) -> list[SideCheck]:
    """Each box of a "right ..." or "left ..." structure checked against the film's midline (its centre column).

    found maps each structure asked about to its boxes (from localize). The film's centre column stands for the
    patient's midline, as on a centred PA film; a midline structure (cardiac silhouette, trachea) has no side to check.
    """
    width, _ = _size(image)
    checks = []
    for structure, boxes in found.items():
        named = structure.strip().lower().split(" ", 1)[0]
        if named not in ("right", "left"):
            continue
        checks += [SideCheck(structure, named, (box.x0 + box.x1) / 2, width / 2) for box in boxes]
    return checks


def draw_midline(image: Image.Image) -> Image.Image:
    """A copy of the image with its centre column drawn as a dashed line: the midline the side checks use."""
    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    x, dash = canvas.width // 2, max(8, canvas.height // 60)
    for top in range(0, canvas.height, 2 * dash):
        draw.line((x, top, x, min(top + dash, canvas.height)), fill=(255, 255, 255), width=max(2, canvas.width // 400))
    return canvas


def show_boxes(image: Any, boxes: list[Box], *, midline: bool = False) -> None:
    """Show the image with the boxes and their labels drawn on it (mh.draw_boxes returns the image instead).

    midline=True also draws the film's centre column, against which side_checks judges right and left.
    """
    if not boxes:
        print("No boxes to draw: the film is shown as it is.")
    drawn = draw_boxes(load_image(image), boxes)
    if midline:
        drawn = draw_midline(drawn)
    if in_notebook():
        from IPython.display import display

        drawn.thumbnail((900, 900))  # boxes are drawn at full resolution, shown at a screen's size
        display(drawn)
