"""The answer key drawn on the film: each present finding's region outlined and labelled, as a teaching file shows it.

Given a resident's checks, a finding they missed is marked missed, and a finding they put on the wrong side is also
drawn where they put it (its region mirrored across the midline) in the wrong-side colour.

Layer: teaching flow, below the case view. May import: errors, render, cases, case_images, concordance.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from .case_images import load_case_image
from .cases import Case, ReferenceFinding
from .concordance import FindingCheck, error_kind
from .errors import ImageError
from .render import esc

Box = tuple[int, int, int, int]

# Outline colours, one per state; the wrong-side purple matches the concordance table's wrong-side row.
COLOURS: dict[str, tuple[int, int, int]] = {
    "key": (255, 191, 0),  # no read to compare with: the key alone
    "found": (46, 204, 64),
    "hedged": (255, 133, 27),
    "missed": (255, 40, 40),
    "wrong side": (190, 60, 230),
}
LEGEND = {
    "key": "amber: a finding of the key",
    "found": "green: your read found it",
    "hedged": "orange: your read hedged it",
    "missed": "red: your read missed it",
    "wrong side": "purple: where your read put a finding, on the wrong side",
}
# Longest side of the picture shown: enough to see the film, small enough for a notebook and a handout.
SHOWN_SIZE = 720


@dataclass(frozen=True)
class KeyMark:
    """One box the key picture draws: the finding, its box in the film's pixels, its state and its label."""

    finding: str
    box: Box
    state: str  # a key of COLOURS
    label: str


def _side_of(box: Box, width: int) -> str:
    """The patient's side a box lies on (the viewer's left half is the patient's right), or "both"."""
    if box[2] <= width / 2:
        return "right"
    if box[0] >= width / 2:
        return "left"
    return "both"


def mirrored(box: Box, width: int) -> Box:
    """The box mirrored across the film's vertical midline."""
    return (width - box[2], box[1], width - box[0], box[3])


def _state(check: FindingCheck | None) -> str:
    """How the picture marks a finding: the key alone, found, hedged, missed or wrong side."""
    if check is None:
        return "key"
    kind = error_kind(check)
    return {"": "found", "wrong side": "wrong side", "hedged": "hedged"}.get(kind, "missed")


def _where_the_read_put_it(finding: ReferenceFinding, read_side: str, width: int) -> list[Box]:
    """The key's boxes moved to the side the read gave: each box on another side is mirrored there."""
    wanted = ("right", "left") if read_side == "bilateral" else (read_side,)
    placed = []
    for box in finding.regions:
        for side in wanted:
            moved = box if _side_of(box, width) == side else mirrored(box, width)
            if moved not in finding.regions and moved not in placed:
                placed.append(moved)
    return placed


def key_marks(case: Case, checks: Iterable[FindingCheck] | None = None) -> list[KeyMark]:
    """The boxes the key picture draws, in the film's own pixels: each present finding's regions, then misplacings."""
    if case.image is None or case.image.size_px is None:
        return []
    width = case.image.size_px[0]
    by_name = {check.finding: check for check in checks} if checks is not None else None
    marks: list[KeyMark] = []
    misplaced: list[KeyMark] = []
    for finding in case.answer_key.findings:
        if not finding.regions:
            continue
        check = by_name.get(finding.name) if by_name is not None else None
        state = _state(check) if by_name is not None else "key"
        if by_name is not None and check is None:
            state = "missed"  # a read checked on other findings never named this one
        label = finding.name if state in ("key", "found") else f"{finding.name}: {state.upper()}"
        if state == "wrong side" and check is not None:
            label = f"{finding.name}: WRONG SIDE, key {check.key_side}"
            misplaced += [KeyMark(finding.name, box, "wrong side", f"{finding.name}: your read, {check.side}")
                          for box in _where_the_read_put_it(finding, check.side, width)]
            state = "missed"  # the key's own place was not found either
        marks += [KeyMark(finding.name, box, state, label) for box in finding.regions]
    return marks + misplaced


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A legible font at the given pixel size (Pillow's bundled one: no system font is assumed)."""
    return ImageFont.load_default(size=size)


def draw_key(case: Case, checks: Iterable[FindingCheck] | None = None, film: Image.Image | None = None
             ) -> Image.Image:
    """The case film (RGB) with the key's regions outlined and labelled; film defaults to the case's own image.

    Regions are given in the pixels the case file declares (image.size_px) and scaled to the film drawn on.
    """
    if case.image is None or case.image.size_px is None:
        raise ImageError(f"Case {case.id} has no film with a declared size (image.size_px), so its key cannot be "
                         "drawn; add image.size_px to its case file.")
    picture = (film if film is not None else load_case_image(case)).convert("RGB")
    declared_w, declared_h = case.image.size_px
    scale = min(1.0, SHOWN_SIZE / max(picture.size))
    shown = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                           Image.Resampling.LANCZOS) if scale < 1.0 else picture.copy()
    sx, sy = shown.width / declared_w, shown.height / declared_h
    draw = ImageDraw.Draw(shown)
    line = max(2, round(shown.width / 240))
    font = _font(max(10, round(shown.width / 45)))
    labels = []
    for mark in key_marks(case, checks):
        x0, y0, x1, y1 = (round(mark.box[0] * sx), round(mark.box[1] * sy),
                          round(mark.box[2] * sx) - 1, round(mark.box[3] * sy) - 1)
        draw.rectangle((x0, y0, x1, y1), outline=COLOURS[mark.state], width=line)
        labels.append((mark, x0, y0, y1))
    placed: list[tuple[int, int, int, int]] = []
    for mark, x0, y0, y1 in labels:  # after every outline, so no outline crosses a label
        left, top, right, bottom = draw.textbbox((0, 0), mark.label, font=font)
        text_w, text_h = right - left, bottom - top
        text_w, text_h = round(text_w), round(text_h)
        x = min(max(0, x0), max(0, shown.width - text_w - 4))
        y = y0 - text_h - 6 if y0 - text_h - 6 >= 0 else min(y1 + 2, shown.height - text_h - 4)
        # two findings' labels may fall on one spot: step down until this one overlaps none drawn before
        while any(x < px1 and px0 < x + text_w + 4 and y < py1 and py0 < y + text_h + 4
                  for px0, py0, px1, py1 in placed) and y + 2 * text_h + 8 < shown.height:
            y += text_h + 5
        placed.append((x, y, x + text_w + 4, y + text_h + 4))
        draw.rectangle((x, y, x + text_w + 4, y + text_h + 4), fill=(0, 0, 0))
        draw.text((x + 2 - left, y + 2 - top), mark.label, fill=COLOURS[mark.state], font=font)
    return shown


def key_figure_html(case: Case, checks: Sequence[FindingCheck] | None = None) -> str:
    """The key picture as an HTML figure (PNG inline) with its legend; "" for a case whose key draws nothing."""
    marks = key_marks(case, checks)
    if not marks:
        return ""
    try:
        picture = draw_key(case, checks)
    except ImageError as error:  # the key still reads without its picture
        return f"<p class='mh-key-figure' style='color:#a33'>The key's picture needs the case film: {esc(error)}</p>"
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    states = [state for state in COLOURS if any(mark.state == state for mark in marks)]
    legend = "; ".join(LEGEND[state] for state in states)
    described = esc(f"Case {case.id} film with the key drawn: " + "; ".join(dict.fromkeys(m.label for m in marks)))
    return (f"<figure class='mh-key-figure' style='margin:0.6em 0'>"
            f"<img src='data:image/png;base64,{data}' alt='{described}'"
            f" style='max-width:100%;height:auto'>"
            f"<figcaption style='font-size:90%;color:#444'>Where the key's findings are on the film ({esc(legend)})."
            " The patient's right is on the viewer's left.</figcaption></figure>")
